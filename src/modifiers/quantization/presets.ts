/**
 * Preset quantization schemes, exactly compressed-tensors' `PRESET_SCHEMES`
 * (`quant_scheme.py`; llm-compressor reference §2). Names are matched
 * case-insensitively. This is the project's one preset table: the GPU
 * quantizer's presets (src/quantization/presets.ts) are derived from it.
 */
import { quantizationArgs, quantizationScheme, type QuantizationArgs, type QuantizationScheme } from './args.js';

/** A preset's arguments as compressed-tensors writes them: only the fields it sets, the rest take `QuantizationArgs` defaults. */
export interface PresetArgs {
  readonly weights?: Partial<QuantizationArgs>;
  readonly inputActivations?: Partial<QuantizationArgs>;
}

/** The weight/activation arguments of a preset, validated (targets come from the modifier). */
export interface PresetScheme {
  readonly weights?: QuantizationArgs;
  readonly inputActivations?: QuantizationArgs;
}

/** `_int_wnam`: N-bit symmetric int weights in groups of 128, optionally M-bit dynamic per-token int activations. */
function intWnAm(weightBits: number, actBits = 16): PresetArgs {
  const weights: Partial<QuantizationArgs> = { numBits: weightBits, type: 'int', strategy: 'group', groupSize: 128, symmetric: true, dynamic: false };
  if (actBits >= 16) return { weights };
  return { weights, inputActivations: { numBits: actBits, type: 'int', strategy: 'token', symmetric: true, dynamic: true } };
}

const INT8_W8A8: PresetArgs = {
  weights: { numBits: 8, type: 'int', strategy: 'channel', symmetric: true, dynamic: false },
  inputActivations: { numBits: 8, type: 'int', strategy: 'token', symmetric: true, dynamic: true },
};

const NVFP4_WEIGHTS: Partial<QuantizationArgs> = { numBits: 4, type: 'float', strategy: 'tensor_group', symmetric: true, dynamic: false, groupSize: 16, scaleDtype: 'float8_e4m3fn', zpDtype: 'float8_e4m3fn' };
const MXFP4_WEIGHTS: Partial<QuantizationArgs> = { numBits: 4, type: 'float', strategy: 'group', symmetric: true, dynamic: false, groupSize: 32, scaleDtype: 'uint8', zpDtype: 'uint8' };
const MXFP8_WEIGHTS: Partial<QuantizationArgs> = { numBits: 8, type: 'float', strategy: 'group', symmetric: true, dynamic: false, groupSize: 32, scaleDtype: 'uint8', zpDtype: 'uint8' };

/** Every preset as compressed-tensors defines it, by upper-case name, in compressed-tensors' order. */
export const PRESET_ARGS: Readonly<Record<string, PresetArgs>> = {
  UNQUANTIZED: {},
  W4A16_ASYM: { weights: { numBits: 4, type: 'int', strategy: 'group', groupSize: 128, symmetric: false, dynamic: false } },
  W8A8: INT8_W8A8,
  INT8: INT8_W8A8,
  W4AFP8: {
    weights: { numBits: 4, type: 'int', strategy: 'group', groupSize: 128, symmetric: true, dynamic: false },
    inputActivations: { numBits: 8, type: 'float', strategy: 'token', symmetric: true, dynamic: true, observer: null },
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
    inputActivations: { numBits: 4, type: 'float', strategy: 'tensor_group', symmetric: true, dynamic: 'local', groupSize: 16, observer: 'static_minmax', scaleDtype: 'float8_e4m3fn', zpDtype: 'float8_e4m3fn' },
  },
  MXFP4A16: { weights: MXFP4_WEIGHTS },
  MXFP4: {
    weights: MXFP4_WEIGHTS,
    inputActivations: { numBits: 4, type: 'float', strategy: 'group', dynamic: true, symmetric: true, groupSize: 32, scaleDtype: 'uint8', zpDtype: 'uint8' },
  },
  MXFP8A16: { weights: MXFP8_WEIGHTS },
  MXFP8: {
    weights: MXFP8_WEIGHTS,
    inputActivations: { numBits: 8, type: 'float', strategy: 'group', dynamic: true, symmetric: true, groupSize: 32, scaleDtype: 'uint8', zpDtype: 'uint8' },
  },
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

function resolvePreset(name: string, p: PresetArgs): PresetScheme {
  const out: { weights?: QuantizationArgs; inputActivations?: QuantizationArgs } = {};
  if (p.weights) out.weights = quantizationArgs(p.weights, `${name}.weights`);
  if (p.inputActivations) out.inputActivations = quantizationArgs(p.inputActivations, `${name}.input_activations`);
  return out;
}

/** Every preset with compressed-tensors' defaults and inferred values filled in. */
export const PRESET_SCHEMES: Readonly<Record<string, PresetScheme>> = Object.fromEntries(
  Object.entries(PRESET_ARGS).map(([name, p]) => [name, resolvePreset(name, p)]),
);

export const PRESET_NAMES: readonly string[] = Object.keys(PRESET_ARGS);

export function isPresetScheme(name: string): boolean {
  return Object.hasOwn(PRESET_ARGS, name.toUpperCase());
}

/** A fresh scheme for preset `name` applied to `targets` (`preset_name_to_scheme`). */
export function presetNameToScheme(name: string, targets: readonly string[]): QuantizationScheme {
  const preset = isPresetScheme(name) ? PRESET_SCHEMES[name.toUpperCase()] : undefined;
  if (!preset) throw new Error(`Unknown preset scheme name ${name.toUpperCase()}, available names: ${PRESET_NAMES.join(', ')}`);
  return quantizationScheme({
    targets: [...targets],
    weights: preset.weights ? structuredClone(preset.weights) : null,
    inputActivations: preset.inputActivations ? structuredClone(preset.inputActivations) : null,
  });
}
