import { makeQuantizationArgs, makeQuantizationScheme, type QuantizationArgs, type QuantizationArgsInput, type QuantizationScheme } from './args.js';

/**
 * compressed-tensors' `PRESET_SCHEMES` (CT-new `quant_scheme.py`,
 * llm-compressor.md §2), with exactly its arguments. Names are matched
 * case-insensitively, as `preset_name_to_scheme` does.
 */
interface PresetArgs {
  weights?: QuantizationArgsInput;
  inputActivations?: QuantizationArgsInput;
}

const intWeights = (bits: number): QuantizationArgsInput => ({ numBits: bits, type: 'int', strategy: 'group', groupSize: 128, symmetric: true, dynamic: false });
const intTokenActs = (bits: number): QuantizationArgsInput => ({ numBits: bits, type: 'int', strategy: 'token', symmetric: true, dynamic: true });

/** `_int_wnam(w, a)`: int w-bit group-128 weights, optional dynamic per-token int activations. */
function intWnAm(w: number, a = 16): PresetArgs {
  return a < 16 ? { weights: intWeights(w), inputActivations: intTokenActs(a) } : { weights: intWeights(w) };
}

const NVFP4_WEIGHTS: QuantizationArgsInput = { numBits: 4, type: 'float', strategy: 'tensor_group', symmetric: true, dynamic: false, groupSize: 16, scaleDtype: 'float8_e4m3fn' };
const mxWeights = (bits: number): QuantizationArgsInput => ({ numBits: bits, type: 'float', strategy: 'group', symmetric: true, dynamic: false, groupSize: 32, scaleDtype: 'uint8' });
const mxActs = (bits: number): QuantizationArgsInput => ({ numBits: bits, type: 'float', strategy: 'group', symmetric: true, dynamic: true, groupSize: 32, scaleDtype: 'uint8' });

const PRESETS: Record<string, PresetArgs> = {
  UNQUANTIZED: {},
  W4A16_ASYM: { weights: { numBits: 4, type: 'int', strategy: 'group', groupSize: 128, symmetric: false, dynamic: false } },
  W8A8: {
    weights: { numBits: 8, type: 'int', strategy: 'channel', symmetric: true, dynamic: false },
    inputActivations: intTokenActs(8),
  },
  W4AFP8: {
    weights: intWeights(4),
    inputActivations: { numBits: 8, type: 'float', strategy: 'token', symmetric: true, dynamic: true },
  },
  FP8: {
    weights: { numBits: 8, type: 'float', strategy: 'tensor', symmetric: true, dynamic: false },
    inputActivations: { numBits: 8, type: 'float', strategy: 'tensor', symmetric: true, dynamic: false, observer: 'static_minmax' },
  },
  FP8_DYNAMIC: {
    weights: { numBits: 8, type: 'float', strategy: 'channel', symmetric: true, dynamic: false },
    inputActivations: { numBits: 8, type: 'float', strategy: 'token', symmetric: true, dynamic: true },
  },
  FP8_BLOCK: {
    weights: { numBits: 8, type: 'float', strategy: 'block', symmetric: true, dynamic: false, blockStructure: [128, 128] },
    inputActivations: { numBits: 8, type: 'float', strategy: 'group', symmetric: true, dynamic: true, groupSize: 128 },
  },
  NVFP4A16: { weights: NVFP4_WEIGHTS },
  NVFP4: {
    weights: NVFP4_WEIGHTS,
    inputActivations: { numBits: 4, type: 'float', strategy: 'tensor_group', symmetric: true, dynamic: 'local', groupSize: 16, observer: 'static_minmax', scaleDtype: 'float8_e4m3fn' },
  },
  MXFP4A16: { weights: mxWeights(4) },
  MXFP4: { weights: mxWeights(4), inputActivations: mxActs(4) },
  MXFP8A16: { weights: mxWeights(8) },
  MXFP8: { weights: mxWeights(8), inputActivations: mxActs(8) },
  W2A4: intWnAm(2, 4),
  W2A8: intWnAm(2, 8),
  W2A16: intWnAm(2),
  W3A4: intWnAm(3, 4),
  W3A8: intWnAm(3, 8),
  W3A16: intWnAm(3),
  W4A4: intWnAm(4, 4),
  W4A8: intWnAm(4, 8),
  W4A16: intWnAm(4),
  W5A8: intWnAm(5, 8),
  W5A16: intWnAm(5),
  W6A8: intWnAm(6, 8),
  W6A16: intWnAm(6),
  W7A8: intWnAm(7, 8),
  W7A16: intWnAm(7),
  W8A16: intWnAm(8),
};
// INT8 is compressed-tensors' alias for W8A8.
PRESETS.INT8 = PRESETS.W8A8;

/** Every preset name, upper case. */
export const PRESET_NAMES: readonly string[] = Object.keys(PRESETS);

/** Whether `name` is a preset (case-insensitive). */
export function isPresetScheme(name: string): boolean {
  return name.toUpperCase() in PRESETS;
}

/**
 * The preset `name` applied to `targets` (`preset_name_to_scheme`). Unknown
 * names are an error listing the known ones.
 */
export function presetScheme(name: string, targets: readonly string[] = ['Linear']): QuantizationScheme {
  const key = name.toUpperCase();
  const p = PRESETS[key];
  if (!p) throw new RangeError(`unknown quantization scheme "${name}" (presets: ${PRESET_NAMES.join(', ')})`);
  const args = (a: QuantizationArgsInput | undefined, k: string): QuantizationArgs | null => (a ? makeQuantizationArgs(a, `${key}.${k}`) : null);
  return makeQuantizationScheme({ targets, weights: args(p.weights, 'weights'), inputActivations: args(p.inputActivations, 'input_activations') }, key);
}
