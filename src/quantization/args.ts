/**
 * compressed-tensors' `QuantizationArgs` and `QuantizationScheme` in
 * TypeScript form (camelCase), with the validation rules of
 * `quant_args.py::validate_model_after` and `quant_scheme.py`
 * (compressed-tensors.md §2.2–§2.3) and converters to and from the
 * snake_case JSON that config.json and recipes carry.
 */

import { QUANTIZATION_STRATEGIES, parseBlockStructure, resolveActorder, strategyForGroupSize, type QuantizationStrategy } from '../io/compressed/args.js';

/** `QuantizationArgs.type`. */
export type QuantizationType = 'int' | 'float';

/** `QuantizationArgs.strategy` (always explicit after validation). */
export type { QuantizationStrategy };

/** `actorder` after alias resolution (`true`/`"dynamic"` → group, `"static"` → weight). */
export type ActivationOrdering = 'group' | 'weight';

/**
 * `scale_dtype` values this project understands. compressed-tensors ≥ 0.13
 * uses them to mark NVFP4 (FP8 group scales) and MX formats (E8M0 scales kept
 * as uint8 exponents); for every other scheme the scale has the weight's dtype.
 */
export type ScaleDtype = 'float8_e4m3fn' | 'uint8';

/** Validated quantization arguments for one tensor role (weights, inputs, outputs). */
export interface QuantizationArgs {
  readonly numBits: number;
  readonly type: QuantizationType;
  readonly symmetric: boolean;
  /** `> 0` for group/tensor_group, `-1` for channel (as given), otherwise null. */
  readonly groupSize: number | null;
  readonly strategy: QuantizationStrategy;
  /** `[rows, cols]` of a block (strategy block only). */
  readonly blockStructure: readonly [number, number] | null;
  /** `true`: parameters computed at run time; `"local"`: only local scales are (NVFP4 activations). */
  readonly dynamic: boolean | 'local';
  readonly actorder: ActivationOrdering | null;
  /** Observer name; null for dynamic args. Loaders ignore it (§2.3). */
  readonly observer: string | null;
  readonly observerKwargs: Readonly<Record<string, number | string | boolean>>;
  /** Set for NVFP4 (`float8_e4m3fn`) and MX (`uint8`); null means the weight's dtype. */
  readonly scaleDtype: ScaleDtype | null;
}

/** Quantization args as a user or recipe gives them: any subset, camelCase. */
export interface QuantizationArgsInput {
  numBits?: number;
  type?: string;
  symmetric?: boolean;
  groupSize?: number | null;
  strategy?: string | null;
  blockStructure?: readonly number[] | string | null;
  dynamic?: boolean | string;
  actorder?: string | boolean | null;
  observer?: string | null;
  observerKwargs?: Record<string, number | string | boolean>;
  scaleDtype?: string | null;
}

/** A config group: which modules, and how their weights and activations are quantized. */
export interface QuantizationScheme {
  readonly targets: readonly string[];
  readonly weights: QuantizationArgs | null;
  readonly inputActivations: QuantizationArgs | null;
  readonly outputActivations: QuantizationArgs | null;
  /** Per-group compression format, when given explicitly. */
  readonly format: string | null;
}

/** A validation failure; `field` is the dotted path of the offending key. */
export class QuantizationConfigError extends Error {
  override name = 'QuantizationConfigError';
  constructor(readonly field: string, detail: string) {
    super(`${field}: ${detail}`);
  }
}

const STRATEGIES: readonly QuantizationStrategy[] = QUANTIZATION_STRATEGIES;
const DYNAMIC_STRATEGIES: readonly QuantizationStrategy[] = ['token', 'tensor', 'tensor_group', 'group'];
const ACTIVATION_STRATEGIES: readonly QuantizationStrategy[] = ['token', 'tensor', 'group', 'tensor_group', 'attn_head'];

/** Observer names llm-compressor registers (llm-compressor.md §1.3). */
export const OBSERVERS = ['minmax', 'memoryless_minmax', 'static_minmax', 'mse', 'memoryless_mse', 'imatrix_mse', 'nvfp4_expanded_mse'] as const;

/** Scale dtype spellings accepted in JSON (`torch.float8_e4m3fn` as str() prints it, or bare). */
function parseScaleDtype(v: unknown, field: string): ScaleDtype | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string') throw new QuantizationConfigError(field, `must be a torch dtype name, got ${JSON.stringify(v)}`);
  const name = v.replace(/^torch\./, '');
  if (name === 'float8_e4m3fn' || name === 'uint8') return name;
  // The model's own dtype is what compressed-tensors uses when scale_dtype is unset; accept it as "unset".
  if (['float32', 'float16', 'bfloat16', 'float', 'half'].includes(name)) return null;
  throw new QuantizationConfigError(field, `scale_dtype ${JSON.stringify(v)} is not supported (float8_e4m3fn for NVFP4, uint8 for MX formats, or the model dtype)`);
}

/**
 * Fills defaults, infers the strategy and applies compressed-tensors'
 * validation rules (§2.3): token needs dynamic; group and tensor_group need
 * group_size > 0 and a positive group_size needs one of them; block needs
 * block_structure and vice versa; actorder group needs a group strategy;
 * dynamic needs token/tensor/tensor_group/group; "local" needs tensor_group;
 * float args are symmetric and 4 or 8 bits. Static args default the observer
 * to "minmax" (§2.7 rule 3), dynamic ones force it to null.
 */
export function makeQuantizationArgs(input: QuantizationArgsInput, field = 'args'): QuantizationArgs {
  const fail = (sub: string, detail: string): never => {
    throw new QuantizationConfigError(`${field}.${sub}`, detail);
  };
  const numBits = input.numBits ?? 8;
  if (typeof numBits !== 'number' || !Number.isInteger(numBits) || numBits < 1 || numBits > 32) fail('num_bits', `must be a positive integer, got ${JSON.stringify(numBits)}`);
  const typeRaw = input.type ?? 'int';
  if (typeof typeRaw !== 'string' || !['int', 'float'].includes(typeRaw.toLowerCase())) fail('type', `must be "int" or "float", got ${JSON.stringify(typeRaw)}`);
  const type = typeRaw.toLowerCase() as QuantizationType;
  const symmetric = input.symmetric ?? true;
  if (typeof symmetric !== 'boolean') fail('symmetric', 'must be true or false');
  const groupSize = input.groupSize ?? null;
  if (groupSize !== null && (typeof groupSize !== 'number' || !Number.isInteger(groupSize) || groupSize === 0 || groupSize < -1)) {
    fail('group_size', `must be null, -1 (channel) or a positive integer, got ${JSON.stringify(groupSize)}`);
  }
  let strategy: QuantizationStrategy;
  const sRaw = input.strategy ?? null;
  if (sRaw === null) strategy = strategyForGroupSize(groupSize);
  else {
    const s = String(sRaw).toLowerCase() as QuantizationStrategy;
    if (!STRATEGIES.includes(s)) fail('strategy', `must be one of ${STRATEGIES.join(', ')}, got ${JSON.stringify(sRaw)}`);
    strategy = s;
  }
  let block: [number, number] | null = null;
  const bRaw = input.blockStructure ?? null;
  if (bRaw !== null) {
    block = parseBlockStructure(bRaw) ?? fail('block_structure', `must be [rows, cols] of positive integers (or "RxC"), got ${JSON.stringify(bRaw)}`);
  }
  const dRaw = input.dynamic ?? false;
  let dynamic: boolean | 'local';
  if (dRaw === true || dRaw === false) dynamic = dRaw;
  else if (typeof dRaw === 'string' && dRaw.toLowerCase() === 'local') dynamic = 'local';
  else return fail('dynamic', `must be true, false or "local", got ${JSON.stringify(dRaw)}`);
  const actorder: ActivationOrdering | null | undefined = resolveActorder(typeof input.actorder === 'string' ? input.actorder.toLowerCase() : input.actorder ?? null);
  if (actorder === undefined) return fail('actorder', `must be "group", "weight", "dynamic", "static", a boolean or null, got ${JSON.stringify(input.actorder)}`);

  if (strategy === 'token' && dynamic !== true) fail('strategy', 'strategy "token" requires dynamic: true (static token quantization is not possible)');
  if ((strategy === 'group' || strategy === 'tensor_group') && !(groupSize !== null && groupSize > 0)) fail('group_size', `strategy "${strategy}" requires a positive group_size`);
  if (groupSize !== null && groupSize > 0 && strategy !== 'group' && strategy !== 'tensor_group') fail('group_size', `a positive group_size requires strategy "group" or "tensor_group", not "${strategy}"`);
  if (groupSize === -1 && strategy !== 'channel') fail('group_size', `group_size -1 means channel-wise, but strategy is "${strategy}"`);
  if (strategy === 'block' && block === null) fail('block_structure', 'strategy "block" requires block_structure');
  if (block !== null && strategy !== 'block') fail('block_structure', 'block_structure requires strategy "block"');
  if (actorder === 'group' && strategy !== 'group' && strategy !== 'tensor_group') fail('actorder', `actorder "group" requires strategy "group" or "tensor_group", not "${strategy}"`);
  if (dynamic !== false && !DYNAMIC_STRATEGIES.includes(strategy)) fail('dynamic', `dynamic quantization needs strategy token, tensor, tensor_group or group, not "${strategy}"`);
  if (dynamic === 'local' && strategy !== 'tensor_group') fail('dynamic', 'dynamic "local" is only valid with strategy "tensor_group"');
  if (type === 'float') {
    if (numBits !== 4 && numBits !== 8) fail('num_bits', `float quantization supports 4 (FP4 E2M1) or 8 (FP8 E4M3) bits, got ${numBits}`);
    if (!symmetric) fail('symmetric', 'asymmetric float quantization is not supported by compressed-tensors');
  }
  const obsRaw = input.observer;
  let observer: string | null;
  if (dynamic === true) observer = null;
  // Static args (and "local" ones) default to min-max (§2.7 rule 3).
  else if (obsRaw === undefined || obsRaw === null) observer = 'minmax';
  else if (typeof obsRaw !== 'string') return fail('observer', 'must be a string or null');
  else {
    observer = obsRaw.toLowerCase();
    if (!(OBSERVERS as readonly string[]).includes(observer)) fail('observer', `unknown observer ${JSON.stringify(obsRaw)} (known: ${OBSERVERS.join(', ')})`);
  }
  const kwargs = input.observerKwargs ?? {};
  if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) fail('observer_kwargs', 'must be an object');
  for (const [k, v] of Object.entries(kwargs)) {
    if (!['number', 'string', 'boolean'].includes(typeof v)) fail(`observer_kwargs.${k}`, 'must be a number, string or boolean');
  }
  const scaleDtype = parseScaleDtype(input.scaleDtype, `${field}.scale_dtype`);
  if (scaleDtype === 'float8_e4m3fn' && !(type === 'float' && numBits === 4)) fail('scale_dtype', 'float8_e4m3fn scales are only used by FP4 (NVFP4) weights');
  if (scaleDtype === 'uint8' && !(type === 'float' && groupSize === 32 && strategy === 'group')) fail('scale_dtype', 'uint8 (E8M0) scales are only used by MX formats: float weights, strategy group, group_size 32');
  return {
    numBits,
    type,
    symmetric,
    groupSize,
    strategy,
    blockStructure: block,
    dynamic,
    actorder,
    observer,
    observerKwargs: { ...kwargs },
    scaleDtype,
  };
}

/** Returns a copy of `args` with some fields replaced, re-validated. */
export function withArgs(args: QuantizationArgs, patch: QuantizationArgsInput, field = 'args'): QuantizationArgs {
  // A validated QuantizationArgs is itself a complete input.
  return makeQuantizationArgs({ ...args, observerKwargs: { ...args.observerKwargs }, ...patch }, field);
}

const JSON_ARG_KEYS: Record<string, keyof QuantizationArgsInput | null> = {
  num_bits: 'numBits',
  type: 'type',
  symmetric: 'symmetric',
  group_size: 'groupSize',
  strategy: 'strategy',
  block_structure: 'blockStructure',
  dynamic: 'dynamic',
  actorder: 'actorder',
  observer: 'observer',
  observer_kwargs: 'observerKwargs',
  scale_dtype: 'scaleDtype',
  // zp_dtype is implied by the type and bit width; accepted and ignored.
  zp_dtype: null,
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses snake_case `QuantizationArgs` JSON. Unknown keys are an error, as
 * in compressed-tensors ≥ 0.11 (`extra="forbid"`).
 */
export function quantizationArgsFromJson(json: unknown, field = 'args'): QuantizationArgs {
  if (!isObject(json)) throw new QuantizationConfigError(field, 'must be an object of QuantizationArgs');
  const input: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) {
    if (!(k in JSON_ARG_KEYS)) throw new QuantizationConfigError(`${field}.${k}`, `unknown QuantizationArgs key (known: ${Object.keys(JSON_ARG_KEYS).join(', ')})`);
    const to = JSON_ARG_KEYS[k];
    if (to) input[to] = v;
  }
  return makeQuantizationArgs(input as QuantizationArgsInput, field);
}

/**
 * Snake_case JSON with exactly the keys compressed-tensors 0.11–0.12 accept
 * (§2.7 rule 1): no `scale_dtype` / `zp_dtype`, strategy explicit,
 * block_structure as a list.
 */
export function quantizationArgsToJson(a: QuantizationArgs): Record<string, unknown> {
  return {
    num_bits: a.numBits,
    type: a.type,
    symmetric: a.symmetric,
    group_size: a.groupSize,
    strategy: a.strategy,
    block_structure: a.blockStructure ? [...a.blockStructure] : null,
    dynamic: a.dynamic,
    actorder: a.actorder,
    observer: a.observer,
    observer_kwargs: { ...a.observerKwargs },
  };
}

/** Builds and validates a scheme (§2.2): activation strategies and actorder rules. */
export function makeQuantizationScheme(input: {
  targets: readonly string[];
  weights?: QuantizationArgs | null;
  inputActivations?: QuantizationArgs | null;
  outputActivations?: QuantizationArgs | null;
  format?: string | null;
}, field = 'scheme'): QuantizationScheme {
  if (!Array.isArray(input.targets) || input.targets.length === 0 || !input.targets.every((t) => typeof t === 'string' && t.length > 0)) {
    throw new QuantizationConfigError(`${field}.targets`, 'must be a non-empty list of module names, class names or "re:" patterns');
  }
  for (const t of input.targets) {
    if (!t.startsWith('re:')) continue;
    try {
      new RegExp(t.slice(3));
    } catch (e) {
      throw new QuantizationConfigError(`${field}.targets`, `"${t}" is not a valid regular expression: ${(e as Error).message}`);
    }
  }
  for (const [k, a] of [['input_activations', input.inputActivations], ['output_activations', input.outputActivations]] as const) {
    if (!a) continue;
    if (a.actorder !== null) throw new QuantizationConfigError(`${field}.${k}.actorder`, 'activations cannot use actorder');
    if (k === 'input_activations' && !ACTIVATION_STRATEGIES.includes(a.strategy)) {
      throw new QuantizationConfigError(`${field}.${k}.strategy`, `activations cannot use strategy "${a.strategy}"`);
    }
  }
  if (input.weights && (input.weights.strategy === 'token' || input.weights.strategy === 'attn_head')) {
    throw new QuantizationConfigError(`${field}.weights.strategy`, `weights cannot use strategy "${input.weights.strategy}"`);
  }
  if (input.format === 'mixed-precision') throw new QuantizationConfigError(`${field}.format`, 'a group format cannot be "mixed-precision"');
  return {
    targets: [...input.targets],
    weights: input.weights ?? null,
    inputActivations: input.inputActivations ?? null,
    outputActivations: input.outputActivations ?? null,
    format: input.format ?? null,
  };
}

/**
 * Parses one snake_case config group (`QuantizationScheme` JSON). MX and
 * NVFP4 scale dtypes, which compatible configs omit (§2.7), are restored
 * from the group's `format` when it names an MX format.
 */
export function quantizationSchemeFromJson(json: unknown, field = 'scheme'): QuantizationScheme {
  if (!isObject(json)) throw new QuantizationConfigError(field, 'must be a QuantizationScheme object');
  for (const k of Object.keys(json)) {
    if (!['targets', 'weights', 'input_activations', 'output_activations', 'format'].includes(k)) {
      throw new QuantizationConfigError(`${field}.${k}`, 'unknown QuantizationScheme key (known: targets, weights, input_activations, output_activations, format)');
    }
  }
  const format = json.format === undefined || json.format === null ? null : String(json.format);
  const sub = (k: string): QuantizationArgs | null => {
    const v = json[k];
    if (v === undefined || v === null) return null;
    let args = quantizationArgsFromJson(v, `${field}.${k}`);
    if (args.scaleDtype === null) args = restoreScaleDtype(args, format);
    return args;
  };
  const targets = json.targets;
  if (!Array.isArray(targets)) throw new QuantizationConfigError(`${field}.targets`, 'must be a list of strings');
  return makeQuantizationScheme({
    targets: targets as string[],
    weights: sub('weights'),
    inputActivations: sub('input_activations'),
    outputActivations: sub('output_activations'),
    format,
  }, field);
}

/**
 * compressed-tensors marks NVFP4 and MX args with `scale_dtype`, which a
 * 0.11–0.12 compatible config cannot carry; the format (or the FP4 type
 * itself) says it instead.
 */
function restoreScaleDtype(a: QuantizationArgs, format: string | null): QuantizationArgs {
  if (a.type !== 'float') return a;
  if (a.numBits === 4 && a.strategy === 'tensor_group') return { ...a, scaleDtype: 'float8_e4m3fn' };
  const mxShape = a.strategy === 'group' && a.groupSize === 32;
  // FP4 with groups of 32 is always stored as MXFP4 (CT's MXFP4 compressor matches it first).
  const mx = format === 'mxfp4-pack-quantized' || format === 'mxfp8-quantized' || (format === null && a.numBits === 4);
  return mxShape && mx ? { ...a, scaleDtype: 'uint8' } : a;
}

/** Snake_case JSON of a scheme (keys as compressed-tensors writes them). */
export function quantizationSchemeToJson(s: QuantizationScheme): Record<string, unknown> {
  const out: Record<string, unknown> = {
    targets: [...s.targets],
    weights: s.weights ? quantizationArgsToJson(s.weights) : null,
    input_activations: s.inputActivations ? quantizationArgsToJson(s.inputActivations) : null,
    output_activations: s.outputActivations ? quantizationArgsToJson(s.outputActivations) : null,
  };
  if (s.format !== null) out.format = s.format;
  return out;
}

/**
 * Whether applying this scheme needs calibration data: static input or
 * output activations (scales observed from activations) or an
 * importance-weighted observer (llm-compressor `_set_requires_calibration_data`).
 */
export function schemeNeedsCalibration(s: QuantizationScheme): string | null {
  if (s.weights?.observer === 'imatrix_mse') return 'the weight observer "imatrix_mse" weighs errors by activation statistics';
  const a = s.inputActivations;
  if (a && (a.dynamic === false || a.dynamic === 'local')) {
    return a.dynamic === 'local' ? 'input activations need a calibrated global scale (dynamic "local")' : 'input activations are quantized statically (dynamic: false)';
  }
  if (s.outputActivations && s.outputActivations.dynamic !== true) return 'output activations are quantized statically';
  return null;
}
