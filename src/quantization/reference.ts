/**
 * Plain-TypeScript reference of compressed-tensors' weight quantization
 * (compressed-tensors.md §4, llm-compressor.md §1.3 observers): the spec the
 * GPU kernels are tested against. Short and slow on purpose. Every torch op
 * is modelled in the dtype torch runs it in — the f32 (or bf16/f16) result of
 * each op is rounded exactly once — so values equal what compressed-tensors
 * computes on the CPU, bit for bit (§8: scales as one f32 division, not a
 * multiplication by a reciprocal, unless `scaleDivision: 'reciprocal'` asks
 * for what torch does on CUDA).
 */
import type { QuantizationArgs } from './args.js';
import { isMxArgs } from './format.js';
import { groupGeometry, mseSettings, mseShrinkFactors, quantRange, type GroupGeometry, type MseSettings } from './layout.js';
import {
  castToFp4, dtypeEps, dtypeTiny, f32Bits, f32FromBits, f32ToF16Bits, f16BitsToNumber, fp4Code, fromE4M3Byte,
  roundE4M3, roundHalfEven, roundTo, toE4M3Byte, type ComputeDtype,
} from './numerics.js';

/** How compressed-tensors' scalar divisions of a tensor are evaluated. */
export type ScaleDivision = 'exact' | 'reciprocal';

/** Options of the reference quantizer. */
export interface ReferenceOptions {
  /** dtype the weight is held in (and qparams computed in); the input values must be representable in it. */
  dtype?: ComputeDtype;
  /**
   * `tensor / python_float` in torch: an exact f32 division on the CPU
   * (default; compressed-tensors.md §8), `tensor * f32(1/c)` on CUDA.
   */
  scaleDivision?: ScaleDivision;
  /**
   * For TENSOR_GROUP (NVFP4): the absmax shared by a fused set (q/k/v,
   * gate/up) in place of this tensor's own, as llm-compressor's fused
   * observers do.
   */
  fusedAbsMax?: number;
}

/** Per-group quantization parameters as compressed-tensors stores them. */
export interface QParams {
  /** Stored scale value (model dtype; FP8 value for NVFP4; power of two for MX). */
  scale: number;
  /** Signed zero point (0 when symmetric). */
  zeroPoint: number;
}

/** Result of quantizing one weight. */
export interface ReferenceResult {
  geometry: GroupGeometry;
  /**
   * One code per element, row-major: the signed integer for int args, the
   * FP8 E4M3 byte for FP8, the FP4 nibble (sign bit 8) for FP4.
   */
  codes: Int32Array;
  /** Stored scale values, `[nGroupRows, nGroupCols]` row-major. */
  scales: Float64Array;
  /** Zero points per group (asymmetric int only). */
  zeroPoints: Int32Array | null;
  /** NVFP4 global scale (f32), or null. */
  globalScale: number | null;
  /** Fake-quantized weight (`_quantize_dequantize`), in the model dtype. */
  fake: Float64Array;
  /** Per group: the min/max the observer chose (after the mse search when used). */
  observedMin: Float64Array;
  observedMax: Float64Array;
  /** mse observer only: per group, the error of every evaluated shrink step. */
  mseErrors: number[][] | null;
}

interface Ctx {
  args: QuantizationArgs;
  dtype: ComputeDtype;
  division: ScaleDivision;
  qmin: number;
  qmax: number;
}

/** `tensor / c` for a python-float `c`, in `dtype`. */
function divScalar(x: number, c: number, ctx: Ctx): number {
  if (ctx.division === 'reciprocal') return roundTo(x * Math.fround(1 / c), ctx.dtype);
  return roundTo(x / c, ctx.dtype);
}

/** compressed-tensors' `round_to_power_2` in the dtype's own bit layout. */
function roundToPowerOf2(x: number, dtype: ComputeDtype): number {
  if (dtype === 'f16') {
    const h = f32ToF16Bits(x);
    return f16BitsToNumber(((h + (1 << 8)) & 0xfc00) >>> 0);
  }
  // f32, and bf16 (whose bits are the top half of the f32's, low half zero).
  return f32FromBits(((f32Bits(x) + (1 << 21)) & 0xff800000) >>> 0);
}

/** `generate_mx_scales` + uint8 rounding + `maybe_convert_from_mx_exp`: the power-of-two scale. */
function mxScale(amax: number, ctx: Ctx): number {
  const offset = ctx.args.numBits === 4 ? 2 : 8;
  const p2 = roundToPowerOf2(amax, ctx.dtype);
  const exp = p2 === 0 ? 0 : Math.max(0, Math.min(255, 127 + Math.log2(p2) - offset));
  const scale = roundTo(2 ** (exp - 127), ctx.dtype);
  // eps for the uint8 scale dtype is 1 (`_get_dtype_eps` of an integer dtype).
  return scale === 0 ? 1 : scale;
}

/**
 * `calculate_qparams(min, max, args, global_scale)` for one group
 * (§4.2). `withScaleDtype` false drops `scale_dtype`, as the mse search
 * does for TENSOR_GROUP.
 */
export function calculateQParams(min: number, max: number, ctx: Ctx, globalScale: number | null, withScaleDtype = true): QParams {
  const { args, dtype, qmin, qmax } = ctx;
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  let scale: number;
  let zp = 0;
  let scaleIsF32 = false;
  if (args.symmetric) {
    const amax = Math.max(Math.abs(lo), Math.abs(hi));
    if (isMxArgs(args) && withScaleDtype) return { scale: mxScale(amax, ctx), zeroPoint: 0 };
    scale = divScalar(amax, (qmax - qmin) / 2, ctx);
  } else {
    scale = divScalar(roundTo(hi - lo, dtype), qmax - qmin, ctx);
    const z = roundTo(qmin - roundTo(lo / scale, dtype), dtype);
    zp = Number.isNaN(z) ? NaN : Math.max(qmin, Math.min(qmax, z));
  }
  if (globalScale !== null) {
    scale = Math.fround(globalScale * scale);
    scaleIsF32 = true;
  }
  const fp8Scale = withScaleDtype && args.scaleDtype === 'float8_e4m3fn';
  if (fp8Scale) scale = roundE4M3(scale);
  if (scale === 0) scale = fp8Scale ? 0.125 : scaleIsF32 ? dtypeEps('f32') : dtypeEps(dtype);
  // An all-zero asymmetric group divides 0 by 0; any zero point decodes it to 0 (§4.2 writer note).
  const zeroPoint = Number.isNaN(zp) ? 0 : Math.max(-128, Math.min(127, roundHalfEven(zp)));
  return { scale, zeroPoint };
}

/** NVFP4 global scale from the (fused) absmax: `generate_gparam` (§4.6), reciprocal then ×2688 in `dtype`. */
export function globalScaleFromAbsMax(absmax: number, dtype: ComputeDtype): number {
  const amax = Math.max(Math.abs(absmax), dtypeTiny(dtype));
  const g = Math.fround(roundTo(roundTo(1 / amax, dtype) * 2688, dtype));
  return Number.isFinite(g) ? g : 1;
}

interface Quantized {
  code: number;
  fake: number;
}

/**
 * `_quantize` + `_quantize_dequantize` of one element: `x / scale`
 * (`scale / global_scale` first for NVFP4), `+ zero_point` (always added:
 * oneshot initialises a zero zero point for symmetric schemes), clamp, then
 * round-half-even / FP8 cast / FP4 rounding; dequantized `(q − zp) · scale`.
 */
export function quantizeElement(x: number, p: QParams, globalScale: number | null, ctx: Ctx): Quantized {
  const { args, dtype, qmin, qmax } = ctx;
  const sEff = globalScale === null ? p.scale : Math.fround(p.scale / globalScale);
  const t32 = globalScale === null ? dtype : 'f32';
  let t = roundTo(x / sEff, t32);
  t = roundTo(t + p.zeroPoint, t32);
  t = Math.max(qmin, Math.min(qmax, t));
  let code: number;
  let v: number;
  if (args.type === 'int') {
    v = roundHalfEven(t);
    code = v;
    v = v - p.zeroPoint;
  } else if (args.numBits === 8) {
    code = toE4M3Byte(t);
    v = fromE4M3Byte(code);
  } else {
    v = castToFp4(t);
    code = fp4Code(v);
  }
  const fake = roundTo(roundTo(v * sEff, t32), dtype);
  return { code, fake };
}

function groupValues(w: ArrayLike<number>, g: GroupGeometry, gr: number, gc: number): number[] {
  const out: number[] = [];
  for (let r = gr * g.groupRows; r < Math.min(g.rows, (gr + 1) * g.groupRows); r++) {
    for (let c = gc * g.groupCols; c < Math.min(g.cols, (gc + 1) * g.groupCols); c++) out.push(w[r * g.cols + c]);
  }
  return out;
}

/**
 * The mse observer's grid search (`_grid_search_eager`) over all groups of
 * one weight: per step, fake-quantize every group with the shrunk range,
 * error `Σ|fq − x|^norm` (in the weight dtype), keep each group's best; stop
 * once `patience` consecutive steps improved no group at all. Errors are
 * summed in float64 here, so a GPU's f32 sums may choose differently only
 * between steps whose errors tie to within rounding.
 */
export function mseSearch(values: number[][], mins: number[], maxs: number[], s: MseSettings, ctx: Ctx): { min: number[]; max: number[]; errors: number[][] } {
  const searchCtx: Ctx = { ...ctx, args: { ...ctx.args, scaleDtype: ctx.args.strategy === 'tensor_group' ? null : ctx.args.scaleDtype } };
  const expand = Math.fround(s.expand);
  const lo = mins.map((m) => roundTo(m * expand, ctx.dtype));
  const hi = maxs.map((m) => roundTo(m * expand, ctx.dtype));
  const best = lo.map(() => Infinity);
  const bestMin = [...lo];
  const bestMax = [...hi];
  const errors: number[][] = values.map(() => []);
  const ps = mseShrinkFactors(s);
  let noImprove = 0;
  for (let i = 0; i < ps.length; i++) {
    let any = false;
    for (let gi = 0; gi < values.length; gi++) {
      const smin = roundTo(lo[gi] * ps[i], ctx.dtype);
      const smax = roundTo(hi[gi] * ps[i], ctx.dtype);
      const p = calculateQParams(smin, smax, searchCtx, null, true);
      let err = 0;
      for (const x of values[gi]) {
        const fq = quantizeElement(x, p, null, searchCtx).fake;
        err += roundTo(Math.abs(roundTo(fq - x, ctx.dtype)) ** s.norm, ctx.dtype);
      }
      err = roundTo(err, ctx.dtype);
      errors[gi].push(err);
      if (err < best[gi]) {
        best[gi] = err;
        bestMin[gi] = smin;
        bestMax[gi] = smax;
        any = true;
      }
    }
    if (any) noImprove = 0;
    else if (++noImprove >= s.patience) break;
  }
  return { min: bestMin, max: bestMax, errors };
}

/**
 * Quantizes a weight `[rows, cols]` (values exactly representable in
 * `options.dtype`) the way llm-compressor's QuantizationModifier +
 * compressed-tensors' compressor do: observe each group (min-max or mse),
 * compute qparams, quantize every element.
 */
export function referenceQuantize(w: ArrayLike<number>, rows: number, cols: number, args: QuantizationArgs, options: ReferenceOptions = {}): ReferenceResult {
  const dtype = options.dtype ?? 'f32';
  const { qmin, qmax } = quantRange(args);
  const ctx: Ctx = { args, dtype, division: options.scaleDivision ?? 'exact', qmin, qmax };
  const g = groupGeometry(args, rows, cols);
  const n = g.nGroupRows * g.nGroupCols;
  const values: number[][] = [];
  const mins: number[] = [];
  const maxs: number[] = [];
  for (let gr = 0; gr < g.nGroupRows; gr++) {
    for (let gc = 0; gc < g.nGroupCols; gc++) {
      const v = groupValues(w, g, gr, gc);
      for (const x of v) if (!Number.isFinite(x)) throw new RangeError(`weight contains ${x}`);
      values.push(v);
      // Partial blocks are zero-padded by compressed-tensors; zeros do not move min'/max' (0 is always included).
      let lo = Infinity;
      let hi = -Infinity;
      for (const x of v) {
        lo = Math.min(lo, x);
        hi = Math.max(hi, x);
      }
      mins.push(lo);
      maxs.push(hi);
    }
  }
  const mse = mseSettings(args);
  let selMin = mins;
  let selMax = maxs;
  let mseErrors: number[][] | null = null;
  if (mse) ({ min: selMin, max: selMax, errors: mseErrors } = mseSearch(values, mins, maxs, mse, ctx));
  let globalScale: number | null = null;
  if (args.strategy === 'tensor_group') {
    let absmax = options.fusedAbsMax;
    if (absmax === undefined) {
      absmax = -Infinity;
      for (let i = 0; i < n; i++) absmax = Math.max(absmax, selMax[i], -selMin[i]);
    }
    globalScale = globalScaleFromAbsMax(absmax, dtype);
  }
  const scales = new Float64Array(n);
  const zeroPoints = args.symmetric ? null : new Int32Array(n);
  const params: QParams[] = [];
  for (let i = 0; i < n; i++) {
    const p = calculateQParams(selMin[i], selMax[i], ctx, globalScale);
    // The scale lives in a parameter of the model dtype; compression quantizes with that stored value.
    p.scale = roundTo(p.scale, dtype);
    params.push(p);
    scales[i] = p.scale;
    if (zeroPoints) zeroPoints[i] = p.zeroPoint;
  }
  const codes = new Int32Array(rows * cols);
  const fake = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const gi = Math.floor(r / g.groupRows) * g.nGroupCols + Math.floor(c / g.groupCols);
      const q = quantizeElement(w[r * cols + c], params[gi], globalScale, ctx);
      codes[r * cols + c] = q.code;
      fake[r * cols + c] = q.fake;
    }
  }
  return { geometry: g, codes, scales, zeroPoints, globalScale, fake, observedMin: Float64Array.from(selMin), observedMax: Float64Array.from(selMax), mseErrors };
}

/** Reference of the GPU context builder for tests that call the per-group functions directly. */
export function referenceContext(args: QuantizationArgs, dtype: ComputeDtype = 'f32', division: ScaleDivision = 'exact'): Ctx {
  const { qmin, qmax } = quantRange(args);
  return { args, dtype, division, qmin, qmax };
}

/**
 * `pack_to_int32` (packed_dim 1 or 0) of signed `bits`-bit codes
 * `[rows, cols]` (§3.1): offset by 2^(bits−1), dense little-endian bit
 * stream per row (or per column), padding 0.
 */
export function referencePackInt32(codes: ArrayLike<number>, rows: number, cols: number, bits: number, packedDim: 0 | 1 = 1): Uint32Array {
  const lines = packedDim === 1 ? rows : cols;
  const len = packedDim === 1 ? cols : rows;
  const words = Math.ceil((len * bits) / 32);
  const out = new Uint32Array(lines * words);
  const offset = 2 ** (bits - 1);
  for (let l = 0; l < lines; l++) {
    for (let e = 0; e < len; e++) {
      const q = packedDim === 1 ? codes[l * cols + e] : codes[e * cols + l];
      const u = q + offset;
      if (u < 0 || u >= 2 ** bits) throw new RangeError(`code ${q} does not fit ${bits} bits`);
      for (let b = 0; b < bits; b++) {
        if ((u >> b) & 1) {
          const bit = e * bits + b;
          const idx = packedDim === 1 ? l * words + (bit >> 5) : (bit >> 5) * cols + l;
          out[idx] = (out[idx] | (1 << (bit & 31))) >>> 0;
        }
      }
    }
  }
  return out;
}

/**
 * Packs 8-bit codes (int8 two's complement, FP8 bytes) or 4-bit FP4 nibbles
 * into bytes along each row: byte `k` = code `k` (8 bits) or
 * `code[2k] | code[2k+1] << 4` (4 bits, `pack_fp4_to_uint8`).
 */
export function referencePackBytes(codes: ArrayLike<number>, rows: number, cols: number, bits: 8 | 4): Uint8Array {
  if (bits === 8) {
    const out = new Uint8Array(rows * cols);
    for (let i = 0; i < rows * cols; i++) out[i] = codes[i] & 0xff;
    return out;
  }
  if (cols % 2 !== 0) throw new RangeError('FP4 packing needs an even number of columns');
  const out = new Uint8Array((rows * cols) / 2);
  for (let i = 0; i < out.length; i++) out[i] = (codes[2 * i] & 0xf) | ((codes[2 * i + 1] & 0xf) << 4);
  return out;
}
