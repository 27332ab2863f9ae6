import type { Hardware } from '../../gpu/hardware.js';
import { Tensor } from '../../gpu/tensor.js';

const WG = 256;
/** Widest N:M group the kernels handle (shaders/prune.wgsl MAXM). */
export const MAX_NM_GROUP = 32;

interface PruneUniforms {
  count?: number;
  offset?: number;
  shift?: number;
  keyMask?: number;
  k?: number;
  rows?: number;
  rowStart?: number;
  cols?: number;
  i1?: number;
  width?: number;
  words?: number;
  existWords?: number;
  pruneN?: number;
  pruneM?: number;
  kTotal?: number;
  eps?: number;
}

function uniforms(u: PruneUniforms): Record<string, number> {
  return {
    count: 0, offset: 0, shift: 0, keyMask: 0xffffffff, k: 0, rows: 0, rowStart: 0, cols: 0, i1: 0, width: 0, words: 1, existWords: 1, pruneN: 0, pruneM: 1, kTotal: 0,
    eps: 0, ...u,
  };
}

/** A kernel of shaders/prune.wgsl with every `#if` flag defined. */
export function pruneKernel(hw: Hardware, entryPoint: string, flags: Partial<Record<'PRESERVE' | 'WANDA', boolean>> = {}) {
  return hw.kernels.get({ shader: 'prune', entryPoint, flags: { PRESERVE: false, WANDA: false, ...flags } });
}

/** GPU state of a radix selection: u32 [256] histogram and u32 [4] state (state[0] = selected key). */
export interface RadixSelection {
  hist: Tensor;
  state: Tensor;
}

export function createRadixSelection(hw: Hardware): RadixSelection {
  return { hist: Tensor.empty(hw, [256], 'u32'), state: Tensor.empty(hw, [4], 'u32') };
}

/** One run of key values: `count` u32 keys of `buffer` from `offset`. */
export interface KeyRange {
  buffer: GPUBuffer;
  offset: number;
  count: number;
}

/**
 * Selects the key of rank `k` (0-based, ascending) over the union of
 * `ranges`, exactly, on the GPU: 4 radix passes of 8 bits. The result lands
 * in `sel.state[0]`; nothing is read back. `keyMask` = 0x7fffffff compares
 * f32 values by magnitude.
 */
export function radixSelect(hw: Hardware, sel: RadixSelection, ranges: readonly KeyRange[], k: number, keyMask = 0xffffffff): void {
  const total = ranges.reduce((a, r) => a + r.count, 0);
  if (!Number.isInteger(k) || k < 0 || k >= total) throw new Error(`radixSelect: rank ${k} outside [0, ${total})`);
  pruneKernel(hw, 'radixInit').run(hw.batcher, { bindings: { hist: sel.hist.buffer, state: sel.state.buffer }, uniforms: uniforms({ k }), workgroups: 1 });
  const histK = pruneKernel(hw, 'radixHistogram');
  const pickK = pruneKernel(hw, 'radixPick');
  for (const shift of [24, 16, 8, 0]) {
    for (const r of ranges) {
      if (r.count === 0) continue;
      histK.run(hw.batcher, {
        bindings: { keys: r.buffer, hist: sel.hist.buffer, state: sel.state.buffer },
        uniforms: uniforms({ count: r.count, offset: r.offset, shift, keyMask }),
        workgroups: Math.min(Math.ceil(r.count / (WG * 4)), 1024),
      });
    }
    pickK.run(hw.batcher, { bindings: { hist: sel.hist.buffer, state: sel.state.buffer }, uniforms: uniforms({ shift }), workgroups: 1 });
  }
}

/** The key ranges covering every element of f32 tensors (their chunks). */
export function tensorKeys(tensors: readonly Tensor[]): KeyRange[] {
  const out: KeyRange[] = [];
  for (const t of tensors) for (const c of t.chunks) out.push({ buffer: c.buffer, offset: 0, count: c.rows * t.rowElems });
  return out;
}

/**
 * Magnitude pruning against one threshold over `tensors` (one layer, or
 * several for a global threshold): the k-th smallest |w| with
 * k = int(sparsity·numel) (1-based), and every |w| ≤ it zeroed in place
 * (llm-compressor's unstructured mask creator). k = 0 prunes nothing.
 */
export function magnitudePruneUnstructured(hw: Hardware, tensors: readonly Tensor[], sparsity: number): void {
  const numel = tensors.reduce((a, t) => a + t.numel, 0);
  const k = Math.floor(sparsity * numel);
  if (k === 0) return;
  const sel = createRadixSelection(hw);
  radixSelect(hw, sel, tensorKeys(tensors), k - 1, 0x7fffffff);
  const apply = pruneKernel(hw, 'applyThreshold');
  for (const t of tensors) {
    for (const c of t.chunks) {
      const count = c.rows * t.rowElems;
      apply.run(hw.batcher, { bindings: { w: c.buffer, state: sel.state.buffer }, uniforms: uniforms({ count }), workgroups: Math.ceil(count / WG) });
    }
  }
  sel.hist.dispose();
  sel.state.dispose();
}

function checkNM(cols: number, pruneN: number, pruneM: number, what: string): void {
  if (!(pruneM >= 1 && pruneM <= MAX_NM_GROUP && pruneN >= 0 && pruneN <= pruneM)) throw new Error(`${what}: mask_structure ${pruneN}:${pruneM} needs 0 ≤ N ≤ M ≤ ${MAX_NM_GROUP}`);
  if (cols % pruneM !== 0) throw new Error(`${what}: ${cols} columns are not a multiple of M=${pruneM} (mask_structure ${pruneN}:${pruneM})`);
}

/**
 * N:M pruning in place of an f32 weight [rows, cols]: in every M
 * consecutive columns of a row the N smallest |w| (or |w|·sqrt(S_j) with
 * `columnRoots`, Wanda) are zeroed, ties to the lower column.
 */
export function pruneNM(hw: Hardware, w: Tensor, pruneN: number, pruneM: number, columnRoots?: Tensor): void {
  const [, cols] = w.shape;
  checkNM(cols, pruneN, pruneM, 'pruneNM');
  const k = pruneKernel(hw, 'nmPrune', { WANDA: Boolean(columnRoots) });
  for (const c of w.chunks) {
    const bindings: Record<string, GPUBuffer> = { w: c.buffer };
    if (columnRoots) bindings.colRoot = columnRoots.buffer;
    k.run(hw.batcher, { bindings, uniforms: uniforms({ rows: c.rows, cols, pruneN, pruneM }), workgroups: Math.ceil((c.rows * (cols / pruneM)) / WG) });
  }
}

/** sqrt(S) per column, correctly rounded (Wanda's activation norms). */
export function columnRoots(hw: Hardware, colSq: Tensor): Tensor {
  const n = colSq.numel;
  const out = Tensor.empty(hw, [n], 'f32');
  pruneKernel(hw, 'columnRoots').run(hw.batcher, { bindings: { colSq: colSq.buffer, colRootOut: out.buffer }, uniforms: uniforms({ cols: n }), workgroups: Math.ceil(n / WG) });
  return out;
}

/**
 * Wanda (llm-compressor.md §6.3) in place on an f32 weight [rows, cols]
 * from the running mean S of squared input norms: metric |W|·sqrt(S);
 * unstructured zeroes per row the int(cols·sparsity) smallest (stable), N:M
 * the N smallest of every M. No weight update.
 */
export function wandaPrune(hw: Hardware, w: Tensor, colSq: Tensor, sparsity: number, pruneN: number, pruneM: number): void {
  const [, cols] = w.shape;
  if (colSq.numel !== cols) throw new Error(`wandaPrune: S has ${colSq.numel} entries, the weight ${cols} columns`);
  const roots = columnRoots(hw, colSq);
  if (pruneN !== 0) {
    pruneNM(hw, w, pruneN, pruneM, roots);
  } else {
    const k = Math.floor(cols * sparsity);
    if (k > 0) {
      const kern = pruneKernel(hw, 'wandaRows', { WANDA: true });
      for (const c of w.chunks) {
        kern.run(hw.batcher, { bindings: { w: c.buffer, colRoot: roots.buffer }, uniforms: uniforms({ rows: c.rows, cols, k }), workgroups: c.rows });
      }
    }
  }
  roots.dispose();
}

/** Bit mask of the zeros of an f32 weight [rows, cols] (u32 words, ceil(cols/32) per row); zero count added to counter[0]. */
export function zeroMask(hw: Hardware, w: Tensor, counter: Tensor): Tensor {
  const [rows, cols] = w.shape;
  const words = Math.ceil(cols / 32);
  const mask = Tensor.empty(hw, [rows, words], 'u32');
  const k = pruneKernel(hw, 'zeroMask');
  for (const c of w.chunks) {
    k.run(hw.batcher, { bindings: { w: c.buffer, mask: mask.buffer, counter: counter.buffer }, uniforms: uniforms({ rows: c.rows, rowStart: c.rowStart, cols, words }), workgroups: Math.ceil((c.rows * words) / WG) });
  }
  return mask;
}

/** diag(U) (f32 [np]) of the row-chunked [np, np] factor. */
export function factorDiagonal(hw: Hardware, u: Tensor): Tensor {
  const np = u.shape[1];
  const out = Tensor.empty(hw, [np], 'f32');
  const k = pruneKernel(hw, 'uDiagonal');
  for (const c of u.chunks) {
    k.run(hw.batcher, { bindings: { w: c.buffer, colRootOut: out.buffer }, uniforms: uniforms({ rows: c.rows, rowStart: c.rowStart, cols: np }), workgroups: Math.ceil(c.rows / WG) });
  }
  return out;
}

/** Buffers SparseGPT's unstructured block masks reuse from block to block. */
export interface BlockMaskWorkspace {
  /** u32 [rows, blockSize]: saliency keys of the block. */
  scores: Tensor;
  /** u32 [rows, ceil(blockSize/32)]: the block's mask bits. */
  mask: Tensor;
  sel: RadixSelection;
  /** u32 [4]: [0] zeros of the layer, [1] preserved zeros of the block. */
  counter: Tensor;
  blockSize: number;
}

export function createBlockMaskWorkspace(hw: Hardware, rows: number, blockSize: number): BlockMaskWorkspace {
  const counter = Tensor.empty(hw, [4], 'u32');
  hw.batcher.clear(counter.buffer, 0, 16);
  return {
    scores: Tensor.empty(hw, [rows, blockSize], 'u32'),
    mask: Tensor.empty(hw, [rows, Math.ceil(blockSize / 32)], 'u32'),
    sel: createRadixSelection(hw),
    counter,
    blockSize,
  };
}

export function disposeBlockMaskWorkspace(ws: BlockMaskWorkspace): void {
  ws.scores.dispose();
  ws.mask.dispose();
  ws.sel.hist.dispose();
  ws.sel.state.dispose();
  ws.counter.dispose();
}

/**
 * SparseGPT's unstructured mask of block columns [i1, i1 + width): scores
 * w²/d² over all rows, threshold = the score of rank int(rows·width·sparsity),
 * mask = score ≤ threshold; with `existing`, preserved zeros score 0 and the
 * existing mask is kept unless the target count exceeds it (§6.2).
 */
export function blockMask(hw: Hardware, w: Tensor, udiag: Tensor, i1: number, width: number, sparsity: number, ws: BlockMaskWorkspace, existing?: Tensor): void {
  const [rows, cols] = w.shape;
  const words = Math.ceil(width / 32);
  const existWords = Math.ceil(cols / 32);
  const flags = { PRESERVE: Boolean(existing) };
  if (existing) hw.batcher.clear(ws.counter.buffer, 4, 4);
  const scoreK = pruneKernel(hw, 'blockScores', flags);
  for (const c of w.chunks) {
    const bindings: Record<string, GPUBuffer> = { w: c.buffer, udiag: udiag.buffer, scores: ws.scores.buffer };
    if (existing) Object.assign(bindings, { existing: existing.buffer, counter: ws.counter.buffer });
    scoreK.run(hw.batcher, { bindings, uniforms: uniforms({ rows: c.rows, rowStart: c.rowStart, cols, i1, width, existWords }), workgroups: Math.ceil((c.rows * width) / WG) });
  }
  const kTotal = Math.floor(rows * width * sparsity);
  radixSelect(hw, ws.sel, [{ buffer: ws.scores.buffer, offset: 0, count: rows * width }], Math.min(kTotal, rows * width - 1));
  const maskK = pruneKernel(hw, 'blockThresholdMask', flags);
  const bindings: Record<string, GPUBuffer> = { scores: ws.scores.buffer, state: ws.sel.state.buffer, mask: ws.mask.buffer };
  if (existing) Object.assign(bindings, { existing: existing.buffer, counter: ws.counter.buffer });
  maskK.run(hw.batcher, { bindings, uniforms: uniforms({ rows, rowStart: 0, cols, i1, width, words, existWords, kTotal }), workgroups: Math.ceil((rows * words) / WG) });
}

/** Bit mask of the weights kept by ConstantPruningModifier (|w| > eps), u32 [rows, ceil(cols/32)]. */
export function keepMask(hw: Hardware, w: Tensor, eps: number): Tensor {
  const [rows, cols] = w.shape;
  const words = Math.ceil(cols / 32);
  const mask = Tensor.empty(hw, [rows, words], 'u32');
  const k = pruneKernel(hw, 'keepMask');
  for (const c of w.chunks) {
    k.run(hw.batcher, { bindings: { w: c.buffer, mask: mask.buffer }, uniforms: uniforms({ rows: c.rows, rowStart: c.rowStart, cols, words, eps }), workgroups: Math.ceil((c.rows * words) / WG) });
  }
  return mask;
}

/** Zeroes, in place, the weights outside a {@link keepMask}. */
export function applyKeepMask(hw: Hardware, w: Tensor, mask: Tensor): void {
  const [, cols] = w.shape;
  const words = Math.ceil(cols / 32);
  const k = pruneKernel(hw, 'applyKeepMask');
  for (const c of w.chunks) {
    k.run(hw.batcher, { bindings: { w: c.buffer, existing: mask.buffer }, uniforms: uniforms({ rows: c.rows, rowStart: c.rowStart, cols, words }), workgroups: Math.ceil((c.rows * cols) / WG) });
  }
}

/** Number of exact zeros of an f32 weight (one small read-back). */
export async function countZeros(hw: Hardware, w: Tensor): Promise<number> {
  const counter = Tensor.empty(hw, [4], 'u32');
  hw.batcher.clear(counter.buffer, 0, 16);
  const mask = zeroMask(hw, w, counter);
  const n = (await counter.readU32())[0];
  mask.dispose();
  counter.dispose();
  return n;
}

/** acc += factor · sqrt(S) per column (OWL's activation norms). */
export function accumulateRoots(hw: Hardware, acc: Tensor, colSq: Tensor, factor: number): void {
  const n = colSq.numel;
  pruneKernel(hw, 'accumulateRoots').run(hw.batcher, { bindings: { colSq: colSq.buffer, colRootOut: acc.buffer }, uniforms: uniforms({ cols: n, eps: factor }), workgroups: Math.ceil(n / WG) });
}
