import type { QuantizationArgs } from '../../src/quantization/args.js';
import { calculateQParams, quantizeElement, referenceContext, type QParams } from '../../src/quantization/reference.js';

/** Static values of an input quantization (plain numbers). */
export interface ReferenceInputParams {
  scale?: number;
  zeroPoint?: number;
  globalScale?: number;
}

/**
 * Float64 reference of compressed-tensors' input-activation fake quantization
 * of x [rows, cols] in an f32 model (forward_quantize with
 * compute_dynamic_scales_and_zp): per token (row), per group along each row,
 * per tensor (dynamic min/max or the static scale / zero point), or per 16
 * with a static global scale (NVFP4). Values are first rounded to f32, as the
 * activation tensor holds them. A dynamic group holding NaN or ±Inf becomes
 * all NaN (torch's scale is then NaN or Inf); with a static scale only a NaN
 * element is NaN.
 */
export function referenceFakeQuantizeInput(xIn: ArrayLike<number>, rows: number, cols: number, args: QuantizationArgs, params: ReferenceInputParams = {}): Float64Array {
  const ctx = referenceContext(args, 'f32');
  const x = Float64Array.from(xIn, (v) => Math.fround(v));
  const out = new Float64Array(rows * cols);
  const groupLen = args.strategy === 'group' || args.strategy === 'tensor_group' ? (args.groupSize as number) : args.strategy === 'token' ? cols : rows * cols;
  if (cols % Math.min(groupLen, cols) !== 0) throw new RangeError('columns are not a multiple of the group size');
  const globalScale = args.strategy === 'tensor_group' ? (params.globalScale as number) : null;
  if (args.strategy === 'tensor_group' && globalScale === undefined) throw new RangeError('tensor_group needs a global scale');
  const isStatic = args.strategy === 'tensor' && args.dynamic === false;
  for (let start = 0; start < rows * cols; start += groupLen) {
    const end = start + groupLen;
    let p: QParams;
    let bad = false;
    if (isStatic) {
      // The scale is an f32 parameter.
      p = { scale: Math.fround(params.scale as number), zeroPoint: args.symmetric ? 0 : (params.zeroPoint as number) };
    } else {
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = start; i < end; i++) {
        if (!Number.isFinite(x[i])) bad = true;
        lo = Math.min(lo, x[i]);
        hi = Math.max(hi, x[i]);
      }
      p = bad ? { scale: NaN, zeroPoint: 0 } : calculateQParams(lo, hi, ctx, globalScale);
    }
    for (let i = start; i < end; i++) {
      out[i] = bad || Number.isNaN(x[i]) ? NaN : quantizeElement(x[i], p, globalScale, ctx).fake;
    }
  }
  return out;
}
