/**
 * float64 reference of llm-compressor's `quantize_weight` (llm-compressor.md
 * §6.1; modifiers/gptq/gptq_quantize.py): static-group scales observed before
 * the loop, activation ordering, dead columns, dampening, the upper Cholesky
 * factor of H⁻¹, and the lazy-batch loop. Quantization itself follows
 * compressed-tensors in f32 (./quantize.ts).
 */
import { activationOrder, inverseHessianUpper, permuteSymmetric } from './linalg.js';
import { fakeQuantizeValue, scaleIndexing, type QuantFormat, type ScaleLayout } from './quantize.js';

export type ActOrder = 'static' | 'weight' | 'group' | null;

export interface GptqReferenceOptions {
  blockSize: number;
  dampFrac: number;
  actorder: ActOrder;
  format: QuantFormat;
  layout: ScaleLayout;
  /** The weight observer: scale and zero point per scale group of `w` [rows, cols]. */
  observe: (w: Float64Array, rows: number, cols: number) => { scale: ArrayLike<number>; zeroPoint: ArrayLike<number> };
  /** NVFP4 global scale (tensor_group): the loop quantizes with scale / globalScale. */
  globalScale?: number;
  /** dtype of the stored scales: dequantized values are rounded to it (default f32). */
  scaleDtype?: 'f32' | 'bf16' | 'f16';
  /** Use this upper factor (in the loop's column order) instead of computing it from `h` (tests isolate the loop). */
  u?: ArrayLike<number>;
}

export interface GptqReferenceResult {
  /** Q(W), dequantized, original column order, [rows, cols]. */
  weight: Float64Array;
  scale: Float64Array;
  zeroPoint: Float64Array;
  /** Saved `weight_g_idx` (actorder group only). */
  gIdx?: Int32Array;
  /** Permutation applied (identity without actorder). */
  perm: number[];
  /** Σ over rows of Σ (w − q)² / d² / 2. */
  loss: number;
  /** False when the Cholesky failed and the loop ran as round-to-nearest. */
  ok: boolean;
}

/** GPTQ on `w` [rows, cols] with the averaged Hessian `h` [cols, cols]. */
export function gptqReference(wIn: ArrayLike<number>, rows: number, cols: number, h: ArrayLike<number>, o: GptqReferenceOptions): GptqReferenceResult {
  const w0 = Float64Array.from(wIn, (v) => Math.fround(v));
  let actorder = o.actorder;
  if (actorder === 'group' && o.layout.strategy !== 'group' && o.layout.strategy !== 'tensor_group') actorder = null;
  let perm = Array.from({ length: cols }, (_, i) => i);
  let hh: Float64Array = Float64Array.from(h);
  let w: Float64Array = w0;
  // Static groups: observed from the original weight before anything else.
  let q = o.observe(w0, rows, cols);
  if (actorder) {
    perm = activationOrder(hh, cols);
    hh = permuteSymmetric(hh, cols, perm);
    w = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) w[r * cols + c] = w0[r * cols + perm[c]];
    if (actorder === 'group') q = o.observe(w, rows, cols);
  }
  const { rowsPerScale, scaleCols, gIdx: base } = scaleIndexing(o.layout, rows, cols);
  const gIdx = actorder === 'static' || actorder === 'weight' ? Int32Array.from(perm, (p) => base[p]) : base;
  const scale = Float64Array.from(q.scale);
  const zeroPoint = Float64Array.from(q.zeroPoint);
  const sEff = o.globalScale !== undefined ? Float64Array.from(scale, (s) => Math.fround(s / o.globalScale!)) : scale;

  const inv = inverseHessianUpper(hh, cols, o.dampFrac);
  for (let c = 0; c < cols; c++) if (inv.dead[c]) for (let r = 0; r < rows; r++) w[r * cols + c] = 0;
  const u = o.u ? Float64Array.from(o.u) : inv.u;
  let loss = 0;
  for (let i1 = 0; i1 < cols; i1 += o.blockSize) {
    const i2 = Math.min(i1 + o.blockSize, cols);
    const err = new Float64Array(rows * (i2 - i1));
    for (let i = i1; i < i2; i++) {
      const d = u[i * cols + i];
      for (let r = 0; r < rows; r++) {
        const x = w[r * cols + i];
        const k = Math.floor(r / rowsPerScale) * scaleCols + gIdx[i];
        const qv = fakeQuantizeValue(x, sEff[k], zeroPoint[k], o.format, o.globalScale !== undefined ? 'f32' : o.scaleDtype ?? 'f32');
        loss += ((x - qv) * (x - qv)) / (d * d) / 2;
        const e = (x - qv) / d;
        err[r * (i2 - i1) + (i - i1)] = e;
        w[r * cols + i] = qv;
        for (let j = i + 1; j < i2; j++) w[r * cols + j] -= e * u[i * cols + j];
      }
    }
    for (let r = 0; r < rows; r++) {
      for (let j = i2; j < cols; j++) {
        let s = 0;
        for (let t = i1; t < i2; t++) s += err[r * (i2 - i1) + (t - i1)] * u[t * cols + j];
        w[r * cols + j] -= s;
      }
    }
  }
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + perm[c]] = w[r * cols + c];
  const result: GptqReferenceResult = { weight: out, scale, zeroPoint, perm, loss, ok: inv.ok };
  if (actorder === 'group') {
    const g = new Int32Array(cols);
    for (let c = 0; c < cols; c++) g[perm[c]] = gIdx[c];
    result.gIdx = g;
  }
  return result;
}
