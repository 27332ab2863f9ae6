/**
 * GPTQ for one Linear on the GPU (llm-compressor.md §6.1,
 * modifiers/gptq/gptq_quantize.py `quantize_weight`): activation order,
 * static-group scales, dead columns, dampening, the upper Cholesky factor of
 * H⁻¹ and the lazy-batch loop, all recorded as GPU work with no host round
 * trip. The factorisation status and the loss are read back by the caller
 * when convenient (one small read per layer).
 */
import type { Hardware } from '../gpu/hardware.js';
import { Tensor } from '../gpu/tensor.js';
import type { QuantFormat, ScaleLayout } from './reference/quantize.js';
import type { ActOrder } from './reference/gptq.js';
import { activationOrder, createDiagonal, dampen, hessianScale, permuteHessian, recordDiagonal } from './kernels/hessian.js';
import { createCholeskyWorkspace, inverseUpperFactor } from './kernels/cholesky.js';
import { createLoopWorkspace, gptqKernel, gptqLoop, permuteColumns, type LoopWorkspace, type ScaleDtype } from './kernels/gptq.js';
import type { BufferSlice } from '../gpu/kernel.js';
import { paddedSize, squareMatrix } from './kernels/square.js';
import { zeroMask } from './kernels/prune.js';

export interface GptqLayerOptions {
  /** Columns per lazy-batch block (llm-compressor default 128). */
  blockSize: number;
  /** Dampening as a fraction of mean(diag(H)) (default 0.01). */
  dampFrac: number;
  actorder: ActOrder;
  format: QuantFormat;
  layout: ScaleLayout;
  /**
   * The weight observer (the quantization module's): qparams per scale group
   * of the f32 weight `w` [rows, cols], groups row-major as compressed-tensors
   * lays out `weight_scale`. Called on the original weight, or on the
   * permuted one for actorder "group" (static groups, §6.1 step 1).
   */
  observe: (w: Tensor) => Promise<ObservedQParams> | ObservedQParams;
  /**
   * Keep the weight's existing zeros zero (a pruning modifier ran before):
   * they quantize to 0 and the update leaves them alone, as SparseGPT's
   * preserve_sparsity_mask does, so N:M patterns survive quantization.
   */
  preserveZeros?: boolean;
  /** dtype of the stored scales (the model's): the loop rounds dequantized values to it (torch does). */
  scaleDtype?: ScaleDtype;
  /** Largest chunk of the [np, np] matrices (defaults to the binding limit; tests lower it). */
  maxChunkBytes?: number;
}

/** What the observer hands GPTQ: buffers the caller owns (they stay valid after the call). */
export interface ObservedQParams {
  /** f32 stored scales, one per scale group. */
  scale: BufferSlice;
  /** i32 zero points per group; null when symmetric. */
  zeroPoint: BufferSlice | null;
  /** f32 [1] NVFP4 global scale (tensor_group); the loop quantizes with scale / global_scale. */
  globalScale: BufferSlice | null;
}

export interface GptqLayerResult {
  /** f32 [rows, cols]: Q(W) dequantized, original column order. */
  weight: Tensor;
  /** The observer's qparams the weight was quantized with. */
  observed: ObservedQParams;
  /** u32 [cols] `weight_g_idx` (actorder "group" only). */
  gIdx?: Tensor;
  /** f32 [rows]: Σ (w − q)² / d² / 2 per row. */
  losses: Tensor;
  /** u32 [4]: status[0] ≠ 0 when the factorisation failed and the loop ran as round-to-nearest. */
  status: Tensor;
  /** The actorder actually used (group falls back to none for non-grouped strategies). */
  actorder: ActOrder;
}

/** Total loss Σ over rows (llm-compressor's `loss`) and whether the factorisation failed; one read-back. */
export async function readGptqOutcome(r: Pick<GptqLayerResult, 'losses' | 'status'>): Promise<{ loss: number; failed: boolean }> {
  const losses = await r.losses.readF32();
  const status = await r.status.readU32();
  let loss = 0;
  for (const v of losses) loss += v;
  return { loss, failed: status[0] !== 0 };
}

/** An f32 tensor of `t`'s shape, chunked the same way (row-local kernels pair chunks). */
function emptyLike(hw: Hardware, t: Tensor): Tensor {
  return Tensor.empty(hw, t.shape, 'f32', { maxChunkBytes: t.chunks[0].rows * t.rowElems * 4 });
}

function indexKernel(hw: Hardware, entryPoint: string) {
  return gptqKernel(hw, entryPoint);
}

function identityPerm(hw: Hardware, np: number): Tensor {
  return Tensor.fromData(hw, Uint32Array.from({ length: np }, (_, i) => i), [np], 'u32');
}

/** Scale indexing constants of a layout for a [rows, cols] weight. */
export function scaleGeometry(layout: ScaleLayout, rows: number, cols: number): { rowsPerScale: number; scaleCols: number; divisor: number } {
  switch (layout.strategy) {
    case 'tensor':
      return { rowsPerScale: rows, scaleCols: 1, divisor: 0 };
    case 'channel':
      return { rowsPerScale: 1, scaleCols: 1, divisor: 0 };
    default: {
      const gs = layout.groupSize;
      if (!gs || gs < 1) throw new Error(`GPTQ: strategy ${layout.strategy} needs a positive group_size`);
      const rowsPerScale = layout.strategy === 'block' ? layout.blockRows ?? 0 : 1;
      if (rowsPerScale < 1) throw new Error('GPTQ: strategy block needs block_structure');
      return { rowsPerScale, scaleCols: Math.ceil(cols / gs), divisor: gs };
    }
  }
}

/**
 * Quantizes `weight` (f32 [rows, cols], left unchanged) with the
 * accumulated Hessian `hessian` ([np, np] from hessianAccumulate; consumed).
 * `numSamples`, when given, divides H first (GPTQ's sum form); pass
 * undefined for a running-average Hessian.
 */
export async function gptqQuantizeLayer(hw: Hardware, weight: Tensor, hessian: Tensor, numSamples: number | undefined, o: GptqLayerOptions): Promise<GptqLayerResult> {
  const [rows, cols] = weight.shape;
  const np = paddedSize(cols);
  if (hessian.shape[0] !== np) throw new Error(`gptqQuantizeLayer: Hessian is ${hessian.shape[0]} wide, expected ${np} for ${cols} columns`);
  let actorder = o.actorder;
  if (actorder === 'group' && o.layout.strategy !== 'group' && o.layout.strategy !== 'tensor_group') actorder = null;
  if (numSamples !== undefined) hessianScale(hw, hessian, 1 / numSamples);

  const diag = createDiagonal(hw, np);
  let a = hessian;
  let perm: Tensor;
  if (actorder) {
    recordDiagonal(hw, hessian, cols, diag, false);
    perm = activationOrder(hw, cols, diag);
    a = squareMatrix(hw, np, o.maxChunkBytes);
    permuteHessian(hw, hessian, a, perm);
    hessian.dispose();
  } else {
    perm = identityPerm(hw, np);
  }

  // Static groups: the observer sees the original (for "group": the permuted) weight.
  const working = emptyLike(hw, weight);
  let observed: ObservedQParams;
  if (actorder === 'group') {
    const none = Tensor.empty(hw, [np], 'u32');
    hw.batcher.clear(none.buffer, 0, none.chunks[0].byteLength);
    permuteColumns(hw, weight, working, perm, { dead: none });
    observed = await o.observe(working);
    none.dispose();
  } else {
    observed = await o.observe(weight);
  }

  const geo = scaleGeometry(o.layout, rows, cols);
  const gIdx = Tensor.empty(hw, [cols], 'u32');
  const mode = geo.divisor === 0 ? 2 : actorder === 'static' || actorder === 'weight' ? 1 : 0;
  indexKernel(hw, 'groupIndex').run(hw.batcher, {
    bindings: { indexOut: gIdx.buffer, perm: perm.buffer },
    uniforms: { count: cols, divisor: Math.max(geo.divisor, 1), mode, _p0: 0 },
    workgroups: Math.ceil(cols / 256),
  });
  const groups = Math.ceil(rows / geo.rowsPerScale) * geo.scaleCols;
  let loopScale: BufferSlice = observed.scale;
  let scaleTemp: Tensor | undefined;
  if (observed.globalScale) {
    scaleTemp = Tensor.empty(hw, [groups], 'f32');
    loopScale = { buffer: scaleTemp.buffer, size: groups * 4 };
    indexKernel(hw, 'divideScales').run(hw.batcher, {
      bindings: { valuesOut: scaleTemp.buffer, values: observed.scale, globalScale: observed.globalScale },
      uniforms: { count: groups, divisor: 1, mode: 0, _p0: 0 },
      workgroups: Math.ceil(groups / 256),
    });
  }
  let zeros: Tensor | undefined;
  if (!observed.zeroPoint) {
    zeros = Tensor.empty(hw, [groups], 'u32');
    hw.batcher.clear(zeros.buffer, 0, zeros.chunks[0].byteLength);
  }

  // Dead columns, dampening, U = the upper Cholesky factor of H⁻¹.
  recordDiagonal(hw, a, cols, diag, true);
  dampen(hw, a, cols, diag, o.dampFrac);
  const ws = createCholeskyWorkspace(hw, np);
  const u = inverseUpperFactor(hw, a, ws, o.maxChunkBytes);
  a.dispose();
  permuteColumns(hw, weight, working, perm, { dead: diag.dead });

  const loopWs: LoopWorkspace = createLoopWorkspace(hw, rows, np);
  let existing: Tensor | undefined;
  let counter: Tensor | undefined;
  if (o.preserveZeros) {
    counter = Tensor.empty(hw, [4], 'u32');
    hw.batcher.clear(counter.buffer, 0, 16);
    existing = zeroMask(hw, working, counter);
  }
  gptqLoop(hw, working, u, {
    format: o.format, scale: loopScale, zeroPoint: observed.zeroPoint ?? { buffer: zeros!.buffer, size: groups * 4 }, gIdx,
    rowsPerScale: geo.rowsPerScale, scaleCols: geo.scaleCols, scaleDtype: observed.globalScale ? 'f32' : o.scaleDtype ?? 'f32',
  }, o.blockSize, loopWs, existing);
  u.dispose();
  existing?.dispose();
  counter?.dispose();

  let out = working;
  if (actorder) {
    out = emptyLike(hw, weight);
    permuteColumns(hw, working, out, perm, { inverse: true });
    working.dispose();
  }
  let savedGIdx: Tensor | undefined;
  if (actorder === 'group') {
    savedGIdx = Tensor.empty(hw, [cols], 'u32');
    indexKernel(hw, 'scatterGroupIndex').run(hw.batcher, {
      bindings: { indexOut: savedGIdx.buffer, perm: perm.buffer },
      uniforms: { count: cols, divisor: geo.divisor, mode: 0, _p0: 0 },
      workgroups: Math.ceil(cols / 256),
    });
  }
  scaleTemp?.dispose();
  zeros?.dispose();
  gIdx.dispose();
  perm.dispose();
  diag.diag.dispose();
  diag.dead.dispose();
  diag.stats.dispose();
  ws.dinv.dispose();
  loopWs.err.dispose();
  loopWs.ublk.dispose();
  return { weight: out, observed, gIdx: savedGIdx, losses: loopWs.losses, status: ws.status, actorder };
}
