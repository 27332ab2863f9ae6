import { CheckpointError } from '../errors.js';
import { isJsonObject, preview } from '../json.js';

/**
 * compressed-tensors' configuration objects in their JSON shape
 * (compressed-tensors.md §2), with normalisation to the key subset that
 * every compressed-tensors version from 0.11 accepts (§2.7).
 */

/** `QuantizationArgs.strategy` values. */
export const QUANTIZATION_STRATEGIES = ['tensor', 'channel', 'group', 'block', 'token', 'tensor_group', 'attn_head'] as const;
export type QuantizationStrategy = (typeof QUANTIZATION_STRATEGIES)[number];
const STRATEGIES: readonly QuantizationStrategy[] = QUANTIZATION_STRATEGIES;

/** The strategy compressed-tensors infers when none is given: tensor without groups, -1 per channel, else group. */
export function strategyForGroupSize(groupSize: number | null): QuantizationStrategy {
  return groupSize === null ? 'tensor' : groupSize === -1 ? 'channel' : 'group';
}

/** `block_structure` as `[rows, cols]` or `"RxC"`; undefined when it is neither (with positive integers). */
export function parseBlockStructure(raw: unknown): [number, number] | undefined {
  let dims: unknown[] | undefined;
  if (typeof raw === 'string' && /^\d+x\d+$/.test(raw)) dims = raw.split('x').map(Number);
  else if (Array.isArray(raw)) dims = [...raw];
  if (!dims || dims.length !== 2 || !dims.every((d) => typeof d === 'number' && Number.isInteger(d) && d > 0)) return undefined;
  return [dims[0] as number, dims[1] as number];
}

/** `actorder` with compressed-tensors' aliases (`true`/`"dynamic"` → group, `"static"` → weight, `false` → null); undefined for anything else. */
export function resolveActorder(raw: unknown): 'group' | 'weight' | null | undefined {
  if (raw === true || raw === 'group' || raw === 'dynamic') return 'group';
  if (raw === 'weight' || raw === 'static') return 'weight';
  if (raw === false || raw === null) return null;
  return undefined;
}

/** Formats this project writes and reads. */
export const WRITABLE_FORMATS = ['pack-quantized', 'int-quantized', 'float-quantized', 'naive-quantized', 'nvfp4-pack-quantized'] as const;
/** A per-group compression format this project writes. */
export type LayerFormat = (typeof WRITABLE_FORMATS)[number];
/** Every `CompressionFormat` value compressed-tensors defines (§2.1); the others are recognised, not written. */
export const COMPRESSION_FORMATS = [
  'dense', 'sparse-bitmask', 'sparse-24-bitmask', 'int-quantized', 'float-quantized', 'naive-quantized', 'pack-quantized',
  'marlin-24', 'mixed-precision', 'nvfp4-pack-quantized', 'mxfp4-pack-quantized', 'mxfp8-quantized',
] as const;
export type CompressionFormat = (typeof COMPRESSION_FORMATS)[number];

/** compressed-tensors version written as `version` (§2.1): the 0.12 series, whose key set all later versions accept. */
export const TARGET_CT_VERSION = '0.12.2';

/**
 * Normalised `QuantizationArgs`: exactly the keys of §2.7 rule 1, strategy
 * explicit, actorder as `"group"`/`"weight"`/null, observer `"minmax"` for
 * static and null for dynamic args unless given.
 */
export interface QuantizationArgs {
  num_bits: number;
  type: 'int' | 'float';
  symmetric: boolean;
  group_size: number | null;
  strategy: QuantizationStrategy;
  block_structure: [number, number] | null;
  dynamic: boolean | 'local';
  actorder: 'group' | 'weight' | null;
  observer: string | null;
  observer_kwargs: Record<string, unknown>;
}

/**
 * `QuantizationArgs` as a user or recipe gives them: any subset of the keys,
 * compressed-tensors' aliases (`actorder: true | "dynamic" | "static"`,
 * `block_structure: "128x128"`), and `scale_dtype`/`zp_dtype`, which are
 * accepted but not written (CT 0.11–0.12 reject them, §2.3).
 */
export interface QuantizationArgsInput {
  num_bits?: number;
  type?: string;
  symmetric?: boolean;
  group_size?: number | null;
  strategy?: QuantizationStrategy | null;
  block_structure?: readonly number[] | string | null;
  dynamic?: boolean | 'local';
  actorder?: 'group' | 'weight' | 'dynamic' | 'static' | boolean | null;
  observer?: string | null;
  observer_kwargs?: Record<string, unknown>;
  scale_dtype?: string | null;
  zp_dtype?: string | null;
}

/** A config group (`QuantizationScheme`, §2.2), normalised. */
export interface QuantizationScheme {
  targets: string[];
  weights: QuantizationArgs | null;
  input_activations: QuantizationArgs | null;
  output_activations: QuantizationArgs | null;
  format: CompressionFormat | null;
}

/** A config group as given to the writer. */
export interface QuantizationSchemeInput {
  targets: readonly string[];
  weights?: QuantizationArgsInput | null;
  input_activations?: QuantizationArgsInput | null;
  output_activations?: QuantizationArgsInput | null;
  format?: CompressionFormat | null;
}

/** `quantization_config` exactly as written to config.json (§2.1, §2.7). */
export interface QuantizationConfig {
  config_groups: Record<string, QuantizationScheme>;
  format: CompressionFormat;
  global_compression_ratio: number | null;
  ignore: string[];
  kv_cache_scheme: QuantizationArgs | null;
  quant_method: 'compressed-tensors';
  quantization_status: 'compressed' | 'frozen' | 'initialized' | 'calibration' | 'decompressed';
  sparsity_config: Record<string, unknown>;
  transform_config: Record<string, unknown>;
  version: string;
}

/** Where a parse is happening: the file for messages, the field path, and an optional sink for non-fatal problems. */
export interface ParseContext {
  file: string;
  field: string;
  /** When given, problems a loader would reject but that do not stop reading are pushed here instead of thrown. */
  problems?: string[];
}

const ARG_KEYS = new Set(['num_bits', 'type', 'symmetric', 'group_size', 'strategy', 'block_structure', 'dynamic', 'actorder', 'observer', 'observer_kwargs']);
const DROPPED_KEYS = new Set(['scale_dtype', 'zp_dtype']);

/**
 * Fills defaults, infers the strategy, and applies compressed-tensors'
 * `validate_model_after` rules (§2.3): token needs dynamic, group and
 * tensor_group need group_size > 0, a positive group_size needs one of
 * those, block needs block_structure, actorder needs group strategy, and
 * dynamic needs token/tensor/tensor_group/group. Violations are
 * CheckpointErrors naming the field.
 */
export function normalizeQuantizationArgs(input: unknown, ctx: ParseContext): QuantizationArgs {
  const fail = (detail: string, sub?: string): never => {
    throw new CheckpointError(ctx.file, detail, { field: sub ? `${ctx.field}.${sub}` : ctx.field });
  };
  if (!isJsonObject(input)) return fail('must be an object of QuantizationArgs');
  const a = input as Record<string, unknown>;
  for (const k of Object.keys(a)) {
    if (ARG_KEYS.has(k) || DROPPED_KEYS.has(k)) continue;
    const msg = `unknown QuantizationArgs key "${k}" (compressed-tensors ≥ 0.11 rejects unknown keys)`;
    if (ctx.problems) ctx.problems.push(`${ctx.file}: ${ctx.field}: ${msg}`);
    else fail(msg, k);
  }
  const numBits = a.num_bits ?? 8;
  if (typeof numBits !== 'number' || !Number.isInteger(numBits) || numBits < 1 || numBits > 32) fail(`must be a positive integer, got ${preview(numBits)}`, 'num_bits');
  const typeRaw = a.type ?? 'int';
  if (typeof typeRaw !== 'string' || !['int', 'float'].includes(typeRaw.toLowerCase())) fail(`must be "int" or "float", got ${preview(typeRaw)}`, 'type');
  const type = (typeRaw as string).toLowerCase() as 'int' | 'float';
  const symmetric = a.symmetric ?? true;
  if (typeof symmetric !== 'boolean') fail('must be true or false', 'symmetric');
  const groupSize = a.group_size ?? null;
  if (groupSize !== null && (typeof groupSize !== 'number' || !Number.isInteger(groupSize) || groupSize === 0 || groupSize < -1)) {
    fail(`must be null, -1 (channel) or a positive integer, got ${preview(groupSize)}`, 'group_size');
  }
  let strategy = (a.strategy ?? null) as QuantizationStrategy | null;
  if (strategy !== null && !STRATEGIES.includes(strategy)) fail(`must be one of ${STRATEGIES.join(', ')}, got ${preview(strategy)}`, 'strategy');
  if (strategy === null) strategy = strategyForGroupSize(groupSize as number | null);

  let block: [number, number] | null = null;
  const blockRaw = a.block_structure ?? null;
  if (blockRaw !== null) {
    block = parseBlockStructure(blockRaw) ?? fail(`must be [rows, cols] of positive integers (or "RxC"), got ${preview(blockRaw)}`, 'block_structure');
  }
  const dynamic = a.dynamic ?? false;
  if (dynamic !== true && dynamic !== false && dynamic !== 'local') fail(`must be true, false or "local", got ${preview(dynamic)}`, 'dynamic');

  const ao = a.actorder ?? null;
  const actorder = resolveActorder(ao);
  if (actorder === undefined) return fail(`must be "group", "weight", "dynamic", "static", a boolean or null, got ${preview(ao)}`, 'actorder');

  // validate_model_after (§2.3)
  if (strategy === 'token' && dynamic !== true) fail('strategy "token" requires dynamic: true', 'strategy');
  if ((strategy === 'group' || strategy === 'tensor_group') && !(typeof groupSize === 'number' && groupSize > 0)) fail(`strategy "${strategy}" requires a positive group_size`, 'group_size');
  if (typeof groupSize === 'number' && groupSize > 0 && strategy !== 'group' && strategy !== 'tensor_group') fail(`a positive group_size requires strategy "group" or "tensor_group", not "${strategy}"`, 'group_size');
  if (groupSize === -1 && strategy !== 'channel') fail(`group_size -1 means channel-wise, but strategy is "${strategy}"`, 'group_size');
  if (strategy === 'block' && block === null) fail('strategy "block" requires block_structure', 'block_structure');
  if (block !== null && strategy !== 'block') fail('block_structure requires strategy "block"', 'block_structure');
  if (actorder !== null && strategy !== 'group' && strategy !== 'tensor_group') fail(`actorder requires strategy "group", not "${strategy}"`, 'actorder');
  if (dynamic === true && !['token', 'tensor', 'tensor_group', 'group'].includes(strategy)) fail(`dynamic quantization is not possible with strategy "${strategy}"`, 'dynamic');
  if (dynamic === 'local' && strategy !== 'tensor_group') fail('dynamic "local" is only valid with strategy "tensor_group"', 'dynamic');
  if (type === 'float' && !symmetric) fail('float quantization must be symmetric', 'symmetric');

  // CT forces the observer of dynamic (true) args to null; static ones default to "minmax" (§2.7 rule 3).
  const observerRaw = dynamic === true ? null : a.observer === undefined ? 'minmax' : a.observer;
  if (observerRaw !== null && typeof observerRaw !== 'string') fail('must be a string or null', 'observer');
  const kwargs = a.observer_kwargs ?? {};
  if (!isJsonObject(kwargs)) fail('must be an object', 'observer_kwargs');
  return {
    num_bits: numBits as number,
    type,
    symmetric: symmetric as boolean,
    group_size: groupSize as number | null,
    strategy,
    block_structure: block,
    dynamic: dynamic as boolean | 'local',
    actorder,
    observer: observerRaw as string | null,
    observer_kwargs: kwargs as Record<string, unknown>,
  };
}

/** Normalises one config group; `targets` must be a non-empty list of strings. */
export function normalizeQuantizationScheme(input: unknown, ctx: ParseContext): QuantizationScheme {
  if (Array.isArray(input)) {
    throw new CheckpointError(ctx.file, 'preset-name groups ("W4A16": ["Linear"]) are not supported; give the full scheme', { field: ctx.field });
  }
  if (!isJsonObject(input)) throw new CheckpointError(ctx.file, 'must be a QuantizationScheme object', { field: ctx.field });
  const s = input;
  for (const k of Object.keys(s)) {
    if (['targets', 'weights', 'input_activations', 'output_activations', 'format'].includes(k)) continue;
    const msg = `unknown QuantizationScheme key "${k}" (compressed-tensors ≥ 0.11 rejects unknown keys)`;
    if (ctx.problems) ctx.problems.push(`${ctx.file}: ${ctx.field}: ${msg}`);
    else throw new CheckpointError(ctx.file, msg, { field: `${ctx.field}.${k}` });
  }
  const targets = s.targets;
  if (!Array.isArray(targets) || targets.length === 0 || !targets.every((t) => typeof t === 'string' && t.length > 0)) {
    throw new CheckpointError(ctx.file, 'must be a non-empty list of module names, class names or "re:" patterns', { field: `${ctx.field}.targets` });
  }
  for (const t of targets as string[]) checkTargetPattern(ctx.file, `${ctx.field}.targets`, t);
  const sub = (k: 'weights' | 'input_activations' | 'output_activations'): QuantizationArgs | null =>
    s[k] === undefined || s[k] === null ? null : normalizeQuantizationArgs(s[k], { ...ctx, field: `${ctx.field}.${k}` });
  const format = s.format ?? null;
  if (format !== null && !(COMPRESSION_FORMATS as readonly unknown[]).includes(format)) {
    throw new CheckpointError(ctx.file, `unknown compression format ${preview(format)}`, { field: `${ctx.field}.format` });
  }
  if (format === 'mixed-precision') throw new CheckpointError(ctx.file, 'a group format cannot be "mixed-precision"', { field: `${ctx.field}.format` });
  const scheme: QuantizationScheme = {
    targets: [...(targets as string[])],
    weights: sub('weights'),
    input_activations: sub('input_activations'),
    output_activations: sub('output_activations'),
    format: format as CompressionFormat | null,
  };
  for (const k of ['input_activations', 'output_activations'] as const) {
    if (scheme[k]?.actorder) throw new CheckpointError(ctx.file, 'activations cannot use actorder', { field: `${ctx.field}.${k}.actorder` });
  }
  return scheme;
}

/**
 * The compression format compressed-tensors picks for a scheme
 * (llm-compressor.md "Format inference", first match): FP4 weights →
 * nvfp4-pack-quantized; int8 weights with int8 input activations →
 * int-quantized; other int weights (1–8 bits, tensor/channel/group) →
 * pack-quantized; FP8 weights with FP8 input activations → float-quantized;
 * FP8 weight-only → naive-quantized; int block-wise → naive-quantized.
 */
export function inferFormat(scheme: QuantizationScheme): LayerFormat {
  const w = scheme.weights;
  const a = scheme.input_activations;
  if (!w) throw new RangeError('inferFormat: a scheme without weights has no compressed format');
  if (w.type === 'float' && w.num_bits === 4) return 'nvfp4-pack-quantized';
  if (w.type === 'int' && w.num_bits <= 8) {
    if (w.num_bits === 8 && a && a.type === 'int' && a.num_bits === 8) return 'int-quantized';
    if (w.strategy === 'block') return 'naive-quantized';
    return 'pack-quantized';
  }
  if (w.type === 'float' && w.num_bits === 8) return a && a.type === 'float' && a.num_bits === 8 ? 'float-quantized' : 'naive-quantized';
  throw new RangeError(`inferFormat: no compressed format stores ${w.type}${w.num_bits} weights`);
}

/**
 * Checks one `targets`/`ignore` entry: a `re:` pattern must compile and must
 * not nest quantifiers — `(a+)+` can backtrack for ever on a hostile module
 * name, so it is refused rather than risk a hang (Python's `re` in the
 * loaders would hang on it too).
 */
export function checkTargetPattern(file: string, field: string, target: string): void {
  if (!target.startsWith('re:')) return;
  if (/\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)[+*{]/.test(target)) {
    throw new CheckpointError(file, `"${target.slice(0, 80)}" nests quantifiers, which can make matching take exponential time`, { field });
  }
  try {
    new RegExp(target.slice(3));
  } catch (e) {
    throw new CheckpointError(file, `"${target.slice(0, 80)}" is not a valid regular expression: ${(e as Error).message}`, { field });
  }
}
