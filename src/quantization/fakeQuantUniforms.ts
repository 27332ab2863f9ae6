/**
 * The numeric uniforms of shaders/lib/fakequant.wgsl (range, half range,
 * reciprocals, MX exponent offset, scale epsilons), which every kernel that
 * includes it declares: the weight quantizer and the activation quantizer
 * compute them here so both round exactly alike.
 */
import type { QuantizationArgs } from './args.js';
import { quantRange } from './layout.js';
import { dtypeEps, type ComputeDtype } from './numerics.js';

/** Uniform members lib/fakequant.wgsl reads. */
export interface FakeQuantUniforms {
  qmin: number;
  qmax: number;
  halfRange: number;
  fullRange: number;
  invHalfRange: number;
  invFullRange: number;
  mxOffset: number;
  eps: number;
  epsSearch: number;
}

/**
 * Uniforms for `args`: scales are clamped at the epsilon of `scaleDtype`
 * (0.125 when scales are FP8, compressed-tensors' smallest normal e4m3) and
 * the mse search uses the epsilon of `searchDtype`.
 */
export function fakeQuantUniforms(args: QuantizationArgs, scaleDtype: ComputeDtype, searchDtype: ComputeDtype): FakeQuantUniforms {
  const { qmin, qmax } = quantRange(args);
  const halfRange = (qmax - qmin) / 2;
  const fullRange = qmax - qmin;
  return {
    qmin,
    qmax,
    halfRange,
    fullRange,
    invHalfRange: Math.fround(1 / halfRange),
    invFullRange: Math.fround(1 / fullRange),
    mxOffset: args.numBits === 4 ? 2 : 8,
    eps: args.scaleDtype === 'float8_e4m3fn' ? 0.125 : dtypeEps(scaleDtype),
    epsSearch: dtypeEps(searchDtype),
  };
}
