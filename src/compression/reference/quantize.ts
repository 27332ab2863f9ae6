/**
 * float64 reference of the few compressed-tensors quantization formulas the
 * GPTQ loop needs (compressed-tensors.md §4.1–4.3): every step rounded to f32
 * exactly as torch does it in f32, so the results are the bit patterns
 * compressed-tensors produces. `Math.fround(a / b)` is the correctly rounded
 * f32 quotient (double rounding through float64 is innocuous for division).
 * Scales and zero points are the caller's (an observer's) output.
 */

import { roundTo, type ComputeDtype } from '../../quantization/numerics.js';

/** Number format of the quantized values. */
export type QuantFormat =
  | { readonly type: 'int'; readonly numBits: number }
  | { readonly type: 'float'; readonly numBits: 8 | 4 };

const f = Math.fround;

/** `calculate_range` (§4.1). */
export function quantRange(fmt: QuantFormat): { qmin: number; qmax: number } {
  if (fmt.type === 'int') return { qmin: -(2 ** (fmt.numBits - 1)), qmax: 2 ** (fmt.numBits - 1) - 1 };
  return fmt.numBits === 8 ? { qmin: -448, qmax: 448 } : { qmin: -6, qmax: 6 };
}

/** torch.round: ties to even. */
export function roundHalfEven(t: number): number {
  const fl = Math.floor(t);
  const d = t - fl;
  if (d < 0.5) return fl;
  if (d > 0.5) return fl + 1;
  return fl % 2 === 0 ? fl : fl + 1;
}

/** Round to float8 e4m3fn (RNE), |t| ≤ 448. */
export function roundFp8E4m3(t: number): number {
  const a = Math.abs(t);
  if (a === 0) return t;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const quantum = 2 ** (Math.max(e, -6) - 3);
  return Math.sign(t) * roundHalfEven(a / quantum) * quantum;
}

/** FP4 e2m1 rounding table of compressed-tensors (§4.3). */
export function roundFp4E2m1(t: number): number {
  const a = Math.abs(t);
  let q: number;
  if (a <= 0.25) q = 0;
  else if (a < 0.75) q = 0.5;
  else if (a <= 1.25) q = 1;
  else if (a < 1.75) q = 1.5;
  else if (a <= 2.5) q = 2;
  else if (a < 3.5) q = 3;
  else if (a <= 5) q = 4;
  else q = 6;
  return t < 0 ? -q : q;
}

/**
 * The quantized value of `x` (an f32) as compressed-tensors computes it:
 * t = x / s (+ zp), clamp, then round to the format's grid. Returns the code
 * as a number (an integer for int formats, a grid value for float ones).
 */
export function quantizeValue(x: number, scale: number, zeroPoint: number, fmt: QuantFormat): number {
  const { qmin, qmax } = quantRange(fmt);
  let t = f(f(x) / scale);
  if (zeroPoint !== 0) t = f(t + zeroPoint);
  t = Math.min(Math.max(t, qmin), qmax);
  if (fmt.type === 'int') return roundHalfEven(t);
  return fmt.numBits === 8 ? roundFp8E4m3(t) : roundFp4E2m1(t);
}

/**
 * `fake_quantize` of one f32 value: quantize, then (q − zp)·s computed in the
 * scale's dtype (`scaleDtype`: the model's, f32 with a global scale), as
 * GPTQ runs it on an f32 copy of the weight with the observer's scales.
 */
export function fakeQuantizeValue(x: number, scale: number, zeroPoint: number, fmt: QuantFormat, scaleDtype: ComputeDtype = 'f32'): number {
  const q = quantizeValue(x, scale, zeroPoint, fmt);
  return roundTo((q - zeroPoint) * scale, scaleDtype);
}

/**
 * `calculate_qparams` (§4.2, compressed-tensors ≥ 0.13) for one scale group
 * from its observed min and max, f32 arithmetic. No scale_dtype rounding
 * (f32 models): an exact zero scale becomes f32 eps.
 */
export function qparamsFromMinMax(minVal: number, maxVal: number, fmt: QuantFormat, symmetric: boolean): { scale: number; zeroPoint: number } {
  const { qmin, qmax } = quantRange(fmt);
  const lo = Math.min(minVal, 0);
  const hi = Math.max(maxVal, 0);
  const range = qmax - qmin;
  let scale: number;
  let zp = 0;
  if (symmetric) {
    scale = f(Math.max(Math.abs(lo), Math.abs(hi)) / (range / 2));
  } else {
    if (fmt.type === 'float' && fmt.numBits === 4) throw new Error('asymmetric FP4 quantization is not supported (compressed-tensors raises NotImplementedError)');
    scale = f(f(hi - lo) / range);
    zp = scale === 0 ? 0 : Math.min(Math.max(f(qmin - f(lo / scale)), qmin), qmax);
    zp = roundHalfEven(zp);
  }
  if (scale === 0) scale = 2 ** -23;
  return { scale, zeroPoint: zp };
}

/**
 * Where the scale of element (row, column) lives: scale index =
 * floor(row / rowsPerScale) · scaleCols + gIdx[column]. Covers the weight
 * strategies GPTQ supports (§6.1): tensor (rowsPerScale = rows, 1 column),
 * channel (1, 1), group / tensor_group (1, groups), block (block rows, block columns).
 */
export interface ScaleLayout {
  readonly strategy: 'tensor' | 'channel' | 'group' | 'tensor_group' | 'block';
  /** Columns per group (group, tensor_group) or per block (block). */
  readonly groupSize?: number;
  /** Rows per block (block). */
  readonly blockRows?: number;
}

/** rowsPerScale, scaleCols and the column → scale-column map in original column order. */
export function scaleIndexing(layout: ScaleLayout, rows: number, cols: number): { rowsPerScale: number; scaleCols: number; gIdx: Int32Array } {
  const gIdx = new Int32Array(cols);
  switch (layout.strategy) {
    case 'tensor':
      return { rowsPerScale: rows, scaleCols: 1, gIdx };
    case 'channel':
      return { rowsPerScale: 1, scaleCols: 1, gIdx };
    case 'group':
    case 'tensor_group':
    case 'block': {
      const gs = layout.groupSize;
      if (!gs || gs < 1) throw new Error(`${layout.strategy} strategy needs a positive group_size / block width`);
      for (let c = 0; c < cols; c++) gIdx[c] = Math.floor(c / gs);
      const rowsPerScale = layout.strategy === 'block' ? layout.blockRows ?? 0 : 1;
      if (rowsPerScale < 1) throw new Error('block strategy needs block_structure rows');
      return { rowsPerScale, scaleCols: Math.ceil(cols / gs), gIdx };
    }
  }
}

/**
 * Plain min/max observer over each scale group of `w` [rows, cols], then
 * `calculate_qparams`. The minimal stand-in for the quantization module's
 * observer that the GPTQ tests need.
 */
export function observeMinMax(w: ArrayLike<number>, rows: number, cols: number, layout: ScaleLayout, fmt: QuantFormat, symmetric: boolean): { scale: Float64Array; zeroPoint: Float64Array } {
  const { rowsPerScale, scaleCols, gIdx } = scaleIndexing(layout, rows, cols);
  const count = Math.ceil(rows / rowsPerScale) * scaleCols;
  const lo = new Float64Array(count).fill(Infinity);
  const hi = new Float64Array(count).fill(-Infinity);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const k = Math.floor(r / rowsPerScale) * scaleCols + gIdx[c];
      const v = w[r * cols + c];
      if (v < lo[k]) lo[k] = v;
      if (v > hi[k]) hi[k] = v;
    }
  }
  const scale = new Float64Array(count);
  const zeroPoint = new Float64Array(count);
  for (let k = 0; k < count; k++) {
    const q = qparamsFromMinMax(lo[k], hi[k], fmt, symmetric);
    scale[k] = q.scale;
    zeroPoint[k] = q.zeroPoint;
  }
  return { scale, zeroPoint };
}
