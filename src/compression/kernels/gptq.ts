import type { Hardware } from '../../gpu/hardware.js';
import { Tensor } from '../../gpu/tensor.js';
import type { BufferSlice } from '../../gpu/kernel.js';
import type { QuantFormat } from '../reference/quantize.js';
import { quantRange } from '../reference/quantize.js';

/** Widest block one loop dispatch handles (shaders/gptq.wgsl MAXB); wider blocks run as consecutive sub-blocks. */
export const MAX_LOOP_BLOCK = 128;

interface LoopUniforms {
  rows: number;
  rowStart: number;
  cols: number;
  np: number;
  i1?: number;
  count?: number;
  errStride?: number;
  rowsPerScale?: number;
  scaleCols?: number;
  pruneN?: number;
  pruneM?: number;
  maskWords?: number;
  existWords?: number;
  c0?: number;
  qmin?: number;
  qmax?: number;
  maskOffset?: number;
  dqRound?: number;
}

function uniforms(u: LoopUniforms): Record<string, number> {
  return {
    i1: 0, count: 0, errStride: MAX_LOOP_BLOCK, rowsPerScale: 1, scaleCols: 1, pruneN: 0, pruneM: 1, maskWords: 1, existWords: 1, c0: 0, qmin: 0, qmax: 0, maskOffset: 0,
    dqRound: 0, _p1: 0, _p2: 0, ...u,
  };
}

/** All `#if` flags of shaders/gptq.wgsl, off unless given (the preprocessor needs each one defined). */
export function gptqFlags(flags: Partial<Record<'FP8' | 'FP4' | 'NM' | 'PRESERVE' | 'INVERSE', boolean>> = {}): Record<string, boolean> {
  return { FP8: false, FP4: false, NM: false, PRESERVE: false, INVERSE: false, ...flags };
}

/** A kernel of shaders/gptq.wgsl. */
export function gptqKernel(hw: Hardware, entryPoint: string, flags: Parameters<typeof gptqFlags>[0] = {}) {
  return hw.kernels.get({ shader: 'gptq', entryPoint, flags: gptqFlags(flags) });
}

/** dtype the dequantized values are rounded to: the scale's (the model's) dtype, f32 with a global scale. */
export type ScaleDtype = 'f32' | 'bf16' | 'f16';

const DQ_ROUND: Record<ScaleDtype, number> = { f32: 0, bf16: 1, f16: 2 };

/** How the GPTQ loop quantizes element (r, c): scale index floor(r / rowsPerScale)·scaleCols + gIdx[c]. */
export interface LoopQuantization {
  format: QuantFormat;
  /** f32: the scales the loop divides by (scale / global_scale for tensor_group). */
  scale: BufferSlice;
  /** i32 zero points (all zero when symmetric). */
  zeroPoint: BufferSlice;
  /** Rounding of the dequantized value (default f32: none). */
  scaleDtype?: ScaleDtype;
  /** u32 [cols]: scale column of each column, in the loop's (permuted) column order. */
  gIdx: Tensor;
  rowsPerScale: number;
  scaleCols: number;
}

/** State one layer's loop needs besides the weight: compact buffers reused block after block. */
export interface LoopWorkspace {
  /** f32 [rows, MAX_LOOP_BLOCK]: the block's scaled errors. */
  err: Tensor;
  /** f32 [MAX_LOOP_BLOCK, np]: the block's rows of U. */
  ublk: Tensor;
  /** f32 [rows]: Σ (w − q)² / d² / 2 per row, accumulated over blocks. */
  losses: Tensor;
}

export function createLoopWorkspace(hw: Hardware, rows: number, np: number): LoopWorkspace {
  const losses = Tensor.empty(hw, [rows], 'f32');
  hw.batcher.clear(losses.buffer, 0, losses.chunks[0].byteLength);
  return { err: Tensor.empty(hw, [rows, MAX_LOOP_BLOCK], 'f32'), ublk: Tensor.empty(hw, [MAX_LOOP_BLOCK, np], 'f32'), losses };
}

export function disposeLoopWorkspace(ws: LoopWorkspace): void {
  ws.err.dispose();
  ws.ublk.dispose();
  ws.losses.dispose();
}

/** Copies rows [i1, i2) of U (row-chunked) into the workspace's compact block, in program order. */
export function copyURows(hw: Hardware, u: Tensor, i1: number, i2: number, ws: LoopWorkspace): void {
  const np = u.shape[1];
  for (const c of u.chunks) {
    const s = Math.max(i1, c.rowStart);
    const e = Math.min(i2, c.rowStart + c.rows);
    if (e <= s) continue;
    hw.batcher.copy(c.buffer, (s - c.rowStart) * np * 4, ws.ublk.buffer, (s - i1) * np * 4, (e - s) * np * 4);
  }
}

function checkWeight(w: Tensor, what: string): void {
  if (w.dtype !== 'f32' || w.shape.length !== 2) throw new Error(`${what}: the working weight must be f32 [rows, cols], got ${w.dtype} [${w.shape.join(', ')}]`);
}

/** W[:, c0:] −= Err · U[i1:i1+count, c0:] (with `existing`, masked entries stay). */
export function blockUpdate(hw: Hardware, w: Tensor, ws: LoopWorkspace, i1: number, count: number, existing?: Tensor): void {
  const [, cols] = w.shape;
  const np = ws.ublk.shape[1];
  const c0 = i1 + count;
  if (c0 >= cols) return;
  const k = gptqKernel(hw, 'blockUpdate', { PRESERVE: Boolean(existing) });
  const colTiles = Math.ceil((cols - c0) / 64);
  for (const c of w.chunks) {
    const bindings: Record<string, GPUBuffer> = { w: c.buffer, err: ws.err.buffer, ublk: ws.ublk.buffer };
    if (existing) bindings.existing = existing.buffer;
    k.run(hw.batcher, {
      bindings,
      uniforms: uniforms({ rows: c.rows, rowStart: c.rowStart, cols, np, i1, count, c0, existWords: Math.ceil(cols / 32) }),
      workgroups: Math.ceil(c.rows / 64) * colTiles,
    });
  }
}

/**
 * GPTQ's lazy-batch loop over the working weight `w` [rows, cols] (f32,
 * already permuted and with dead columns zeroed) with the upper factor `u`
 * of H⁻¹ ([np, np], np ≥ cols): every column is replaced by its
 * fake-quantized value and its error propagated. Recorded in one go; the
 * per-row losses accumulate in `ws.losses`.
 */
export function gptqLoop(hw: Hardware, w: Tensor, u: Tensor, q: LoopQuantization, blockSize: number, ws: LoopWorkspace, existing?: Tensor): void {
  checkWeight(w, 'gptqLoop');
  const [, cols] = w.shape;
  const np = u.shape[1];
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new Error(`gptqLoop: block_size must be a positive integer, got ${blockSize}`);
  if (np < cols) throw new Error(`gptqLoop: U is ${np} wide, the weight has ${cols} columns`);
  const { qmin, qmax } = quantRange(q.format);
  const flags = { FP8: q.format.type === 'float' && q.format.numBits === 8, FP4: q.format.type === 'float' && q.format.numBits === 4, PRESERVE: Boolean(existing) };
  const k = gptqKernel(hw, 'quantizeBlock', flags);
  for (let b1 = 0; b1 < cols; b1 += blockSize) {
    const b2 = Math.min(b1 + blockSize, cols);
    // A block wider than the kernel's limit runs as sub-blocks: the lazy batch
    // is exact, so only the rounding order differs from one wide block.
    for (let i1 = b1; i1 < b2; i1 += MAX_LOOP_BLOCK) {
      const count = Math.min(MAX_LOOP_BLOCK, b2 - i1);
      copyURows(hw, u, i1, i1 + count, ws);
      for (const c of w.chunks) {
        const bindings: Record<string, GPUBuffer | BufferSlice> = { w: c.buffer, ublk: ws.ublk.buffer, err: ws.err.buffer, gidx: q.gIdx.buffer, scale: q.scale, zp: q.zeroPoint, losses: ws.losses.buffer };
        if (existing) bindings.existing = existing.buffer;
        k.run(hw.batcher, {
          bindings,
          uniforms: uniforms({
            rows: c.rows, rowStart: c.rowStart, cols, np, i1, count, rowsPerScale: q.rowsPerScale, scaleCols: q.scaleCols, qmin, qmax,
            dqRound: DQ_ROUND[q.scaleDtype ?? 'f32'], existWords: Math.ceil(cols / 32),
          }),
          workgroups: Math.ceil(c.rows / 64),
        });
      }
      blockUpdate(hw, w, ws, i1, count, existing);
    }
  }
}

/**
 * Out-of-place column permutation of a row-chunked f32 matrix: forward
 * dst[r, a] = src[r, perm[a]] with columns flagged in `dead` (u32, permuted
 * order) zeroed; inverse dst[r, perm[a]] = src[r, a]. `dst` must be chunked
 * like `src`.
 */
export function permuteColumns(hw: Hardware, src: Tensor, dst: Tensor, perm: Tensor, options: { inverse?: boolean; dead?: Tensor } = {}): void {
  const [, cols] = src.shape;
  if (dst.chunks.length !== src.chunks.length) throw new Error('permuteColumns: source and destination are chunked differently');
  const inverse = Boolean(options.inverse);
  if (!inverse && !options.dead) throw new Error('permuteColumns: the forward permutation needs the dead-column flags');
  const k = gptqKernel(hw, 'permuteColumns', { INVERSE: inverse });
  src.chunks.forEach((c, i) => {
    const bindings: Record<string, GPUBuffer> = { w: dst.chunks[i].buffer, src: c.buffer, perm: perm.buffer };
    if (!inverse) bindings.dead = options.dead!.buffer;
    k.run(hw.batcher, {
      bindings,
      uniforms: uniforms({ rows: c.rows, rowStart: c.rowStart, cols, np: cols }),
      workgroups: Math.ceil((c.rows * cols) / 256),
    });
  });
}

/** SparseGPT's loop options (§6.2). */
export interface PruneLoopOptions {
  blockSize: number;
  sparsity: number;
  /** N:M structure; pruneN = 0 is unstructured. */
  pruneN: number;
  pruneM: number;
  /** Bit mask of preserved zeros (u32 [rows, ceil(cols/32)]), for preserve_sparsity_mask. */
  existing?: Tensor;
  /** Computes the unstructured mask of logical block [b1, b1 + width) into `mask` (u32 [rows, ceil(width/32)]). */
  blockMask?: (b1: number, width: number) => Tensor;
}

/**
 * SparseGPT's lazy-batch loop over the working weight `w` with the upper
 * factor `u`: the block's masked entries become zero and their error is
 * propagated exactly as GPTQ propagates quantization error.
 */
export function pruneLoop(hw: Hardware, w: Tensor, u: Tensor, o: PruneLoopOptions, ws: LoopWorkspace): void {
  checkWeight(w, 'pruneLoop');
  const [, cols] = w.shape;
  const np = u.shape[1];
  const nm = o.pruneN !== 0;
  if (nm && o.blockSize % o.pruneM !== 0) throw new Error(`SparseGPT: block_size ${o.blockSize} is not a multiple of M=${o.pruneM}`);
  if (!nm && !o.blockMask) throw new Error('pruneLoop: unstructured pruning needs a block mask');
  // Sub-blocks keep N:M groups whole (the groups count from the block start).
  const sub = nm ? Math.floor(MAX_LOOP_BLOCK / o.pruneM) * o.pruneM : MAX_LOOP_BLOCK;
  const k = gptqKernel(hw, 'pruneBlock', { NM: nm, PRESERVE: Boolean(o.existing) });
  for (let b1 = 0; b1 < cols; b1 += o.blockSize) {
    const b2 = Math.min(b1 + o.blockSize, cols);
    const mask = nm ? undefined : o.blockMask!(b1, b2 - b1);
    for (let i1 = b1; i1 < b2; i1 += sub) {
      const count = Math.min(sub, b2 - i1);
      copyURows(hw, u, i1, i1 + count, ws);
      for (const c of w.chunks) {
        const bindings: Record<string, GPUBuffer> = { w: c.buffer, ublk: ws.ublk.buffer, err: ws.err.buffer, losses: ws.losses.buffer };
        if (mask) bindings.blockMask = mask.buffer;
        if (o.existing && nm) bindings.existing = o.existing.buffer;
        k.run(hw.batcher, {
          bindings,
          uniforms: uniforms({
            rows: c.rows, rowStart: c.rowStart, cols, np, i1, count, pruneN: o.pruneN, pruneM: o.pruneM,
            maskWords: Math.ceil((b2 - b1) / 32), maskOffset: i1 - b1, existWords: Math.ceil(cols / 32),
          }),
          workgroups: Math.ceil(c.rows / 64),
        });
      }
      blockUpdate(hw, w, ws, i1, count, o.existing);
    }
  }
}
