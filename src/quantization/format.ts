import type { QuantizationArgs, QuantizationScheme } from './args.js';

/** compressed-tensors formats a quantized Linear can be stored in (§2.1). */
export type WeightFormat =
  | 'pack-quantized'
  | 'int-quantized'
  | 'float-quantized'
  | 'naive-quantized'
  | 'nvfp4-pack-quantized'
  | 'mxfp4-pack-quantized'
  | 'mxfp8-quantized';

/** Whether `w` uses MX (E8M0 power-of-two) scales: CT's `should_generate_mx_scales`. */
export function isMxArgs(w: QuantizationArgs): boolean {
  return w.type === 'float' && (w.numBits === 4 || w.numBits === 8) && w.groupSize === 32 && w.scaleDtype === 'uint8';
}

/**
 * The format compressed-tensors infers for a scheme
 * (`compressors/format.py::infer_module_format`): the first compressor in
 * CT's priority list whose `can_compress` accepts it — mxfp4-pack, mxfp8,
 * nvfp4-pack, int-quantized (int weights with input activations),
 * pack-quantized (int weights of 1–8 bits, no float activations),
 * float-quantized (float weights with input activations), naive-quantized.
 * An explicit `scheme.format` wins, as in CT.
 */
export function inferWeightFormat(scheme: QuantizationScheme): WeightFormat {
  if (scheme.format) return scheme.format as WeightFormat;
  const w = scheme.weights;
  const a = scheme.inputActivations;
  if (!w) throw new RangeError('a scheme without weight quantization has no compressed weight format');
  if (w.type === 'float' && w.numBits === 4 && w.groupSize === 32) return 'mxfp4-pack-quantized';
  if (w.type === 'float' && w.numBits === 8 && w.groupSize === 32 && w.scaleDtype === 'uint8') return 'mxfp8-quantized';
  if (w.type === 'float' && w.numBits === 4 && w.groupSize === 16) return 'nvfp4-pack-quantized';
  if (a && w.type === 'int') return 'int-quantized';
  if (w.type === 'int' && w.numBits >= 1 && w.numBits <= 8 && !(a && a.type === 'float')) return 'pack-quantized';
  if (a && w.type === 'float') return 'float-quantized';
  return 'naive-quantized';
}

/**
 * The global `format` for a set of per-group formats (`_flatten_formats`):
 * the single format, or `mixed-precision` when they differ.
 */
export function globalFormat(formats: Iterable<WeightFormat>): WeightFormat | 'mixed-precision' | 'dense' {
  const set = new Set(formats);
  if (set.size === 0) return 'dense';
  if (set.size === 1) return [...set][0];
  return 'mixed-precision';
}

/**
 * Why `format` cannot store weights quantized with `w`, or null when it can:
 * the storage dtype each compressor writes must hold the codes.
 */
export function formatMismatch(format: WeightFormat, w: QuantizationArgs): string | null {
  switch (format) {
    case 'pack-quantized':
      if (w.type !== 'int' || w.numBits < 1 || w.numBits > 8) return `pack-quantized stores int weights of 1–8 bits, not ${w.type}${w.numBits}`;
      if (w.strategy === 'block' || w.strategy === 'tensor_group') return `pack-quantized does not support strategy "${w.strategy}"`;
      return null;
    case 'int-quantized':
    case 'naive-quantized':
    case 'float-quantized':
      if (w.type === 'int' && w.numBits <= 8) return null;
      if (w.type === 'float' && w.numBits === 8 && !isMxArgs(w)) return null;
      return `${format} stores int weights of up to 8 bits or FP8 weights, not ${w.type}${w.numBits}${isMxArgs(w) ? ' with MX scales' : ''}`;
    case 'nvfp4-pack-quantized':
      return w.type === 'float' && w.numBits === 4 && !isMxArgs(w) ? null : 'nvfp4-pack-quantized stores FP4 weights with FP8 group scales';
    case 'mxfp4-pack-quantized':
      return w.type === 'float' && w.numBits === 4 && isMxArgs(w) ? null : 'mxfp4-pack-quantized stores FP4 weights with E8M0 scales in groups of 32';
    case 'mxfp8-quantized':
      return w.type === 'float' && w.numBits === 8 && isMxArgs(w) ? null : 'mxfp8-quantized stores FP8 weights with E8M0 scales in groups of 32';
    default:
      return `unknown format "${String(format)}"`;
  }
}
