/**
 * One Linear weight → its compressed-tensors data, on the GPU: the codes
 * (pack-quantized int codes already packed into int32 words by the GPU;
 * otherwise one per element, the form src/io's checkpoint writer packs),
 * scales, zero points, NVFP4 global scale, and the quantization error for the
 * summary.
 */
import type { Hardware } from '../gpu/hardware.js';
import type { Tensor } from '../gpu/tensor.js';
import type { QuantizationScheme } from './args.js';
import { formatMismatch, inferWeightFormat, type WeightFormat } from './format.js';
import type { ComputeDtype } from './numerics.js';
import type { ScaleDivision } from './reference.js';
import { QuantizationError, quantizeWeightGpu, readQuantizedWeight, type QuantizedWeight } from './quantizeWeight.js';

/** A quantized Linear as src/io's `QuantizedLayer` takes it (plus its error statistics). */
export interface CompressedLinear {
  /** Module path (`model.layers.0.self_attn.q_proj`). */
  readonly module: string;
  /** Config group that quantized it. */
  readonly group: string;
  readonly shape: readonly [number, number];
  readonly format: WeightFormat;
  /**
   * pack-quantized: the int32 words `[O, ceil(I·b/32)]` as pack_to_int32
   * writes them; otherwise `[O·I]` codes: signed int8 for int weights, E4M3
   * bytes for FP8, E2M1 codes 0–15 for FP4.
   */
  readonly weight: Int8Array | Uint8Array | Int32Array;
  /** Stored scale values (exact in the scale dtype), shaped per strategy. */
  readonly weightScale: Float32Array;
  readonly weightZeroPoint?: Int8Array;
  readonly weightGlobalScale?: Float32Array;
  /** Σ(W − Q(W))², ΣW² and element count. */
  readonly errorSquared: number;
  readonly normSquared: number;
}

/** Options of {@link quantizeLinear}. */
export interface QuantizeLinearOptions {
  module: string;
  group: string;
  /** dtype the weight is stored in (its values are exact in it). */
  dtype: ComputeDtype;
  scaleDivision?: ScaleDivision;
  /** NVFP4 fused-set statistics (see observeGlobalStats). */
  globalStats?: GPUBuffer;
  subgroups?: boolean;
}

/** Checks that `scheme` can be applied to a `[rows, cols]` weight and written; returns its format. */
export function checkLinear(scheme: QuantizationScheme, module: string): WeightFormat {
  const w = scheme.weights;
  if (!w) throw new QuantizationError(`${module}: its config group quantizes no weights`);
  const format = inferWeightFormat(scheme);
  const bad = formatMismatch(format, w);
  if (bad) throw new QuantizationError(`${module}: ${bad}`);
  return format;
}

/** Drops the per-row word padding of a one-byte-per-code layout. */
function compactCodes(q: QuantizedWeight): Uint8Array {
  const { rows, cols } = q.geometry;
  const src = new Uint8Array(q.packed.buffer, q.packed.byteOffset, q.packed.byteLength);
  // Without padding the readback itself is the result (it is ours alone): a
  // copy would only touch fresh memory, which is slow on a CPU adapter's host.
  if (q.rowWords * 4 === cols) return src.subarray(0, rows * cols);
  const out = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) out.set(src.subarray(r * q.rowWords * 4, r * q.rowWords * 4 + cols), r * cols);
  return out;
}

/**
 * Quantizes `weight` (f32 `[O, I]` on the GPU) with `scheme.weights` and
 * reads the result back. NaN/Inf weights and impossible shapes are
 * {@link QuantizationError}s naming the module.
 */
export async function quantizeLinear(hw: Hardware, weight: Tensor, scheme: QuantizationScheme, options: QuantizeLinearOptions): Promise<CompressedLinear> {
  const format = checkLinear(scheme, options.module);
  const args = scheme.weights!;
  const [rows, cols] = weight.shape as [number, number];
  const q = quantizeWeightGpu(hw, weight, args, {
    name: `${options.module}.weight`,
    dtype: options.dtype,
    scaleDivision: options.scaleDivision,
    // pack-quantized codes leave the GPU packed (a quarter of the bytes to read
    // back for int4, and no packing on the host); other formats one per byte.
    layout: format === 'pack-quantized' ? 'int32' : 'codes',
    globalStats: options.globalStats,
    subgroups: options.subgroups,
  });
  let host: QuantizedWeight;
  try {
    host = await readQuantizedWeight(q);
  } finally {
    q.dispose();
  }
  let out: Int8Array | Uint8Array | Int32Array;
  if (format === 'pack-quantized') {
    out = new Int32Array(host.packed.buffer, host.packed.byteOffset, rows * host.rowWords);
  } else {
    const codes = compactCodes(host);
    out = args.type === 'int' ? new Int8Array(codes.buffer, codes.byteOffset, codes.length) : codes;
  }
  return {
    module: options.module,
    group: options.group,
    shape: [rows, cols],
    format,
    weight: out,
    weightScale: host.scales,
    weightZeroPoint: host.zeroPoints ? Int8Array.from(host.zeroPoints) : undefined,
    weightGlobalScale: host.globalScale === null ? undefined : Float32Array.of(host.globalScale),
    errorSquared: host.errorSquared,
    normSquared: host.normSquared,
  };
}
