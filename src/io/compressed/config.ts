import { CheckpointError } from '../errors.js';
import { isJsonObject, preview } from '../json.js';
import {
  type CompressionFormat, type LayerFormat, type ParseContext, type QuantizationArgs, type QuantizationArgsInput, type QuantizationConfig,
  type QuantizationScheme, type QuantizationSchemeInput, COMPRESSION_FORMATS, TARGET_CT_VERSION, WRITABLE_FORMATS, inferFormat,
  checkTargetPattern, normalizeQuantizationArgs, normalizeQuantizationScheme,
} from './args.js';
import type { ScaleDType } from './layout.js';

/** The quantization part of a checkpoint as the writer takes it (compressed-tensors' JSON shape). */
export interface QuantizationConfigInput {
  /** Group name → scheme. Names are free-form; compressed-tensors uses `group_0`, `group_1`, … */
  config_groups: Readonly<Record<string, QuantizationSchemeInput>>;
  /** Modules excluded from every group; `lm_head` is added unless it is quantized (§2.1, §5.1). */
  ignore?: readonly string[];
  /** Global format override; by default each group's format is inferred and the global one is that format, or `mixed-precision`. */
  format?: CompressionFormat | null;
  kv_cache_scheme?: QuantizationArgsInput | null;
  global_compression_ratio?: number | null;
  /** `version` written (default {@link TARGET_CT_VERSION}). */
  version?: string;
}

/** A normalised config plus each group's resolved layer format. */
export interface ResolvedQuantization {
  readonly config: QuantizationConfig;
  readonly formats: ReadonlyMap<string, LayerFormat>;
}

/**
 * Builds the `quantization_config` to write (§2.1, §2.7): every group
 * normalised and carrying its own `format`; the global `format` is the
 * common one or `mixed-precision`; `quantization_status: "compressed"`;
 * `sparsity_config: {}` and `transform_config: {}` (the current-stack
 * advice of §2.10 C′: pruned weights are written as ordinary weights, so
 * every loader accepts them); `version` the 0.12 series so CT 0.11+ loads it.
 */
export function buildQuantizationConfig(input: QuantizationConfigInput, options: { file?: string; lmHeadQuantized?: boolean } = {}): ResolvedQuantization {
  const file = options.file ?? 'quantization_config';
  if (!isJsonObject(input.config_groups) || Object.keys(input.config_groups).length === 0) {
    throw new CheckpointError(file, 'needs at least one config group', { field: 'config_groups' });
  }
  const groups: Record<string, QuantizationScheme> = {};
  const formats = new Map<string, LayerFormat>();
  const globalOverride = input.format ?? null;
  if (globalOverride !== null && !(COMPRESSION_FORMATS as readonly string[]).includes(globalOverride)) {
    throw new CheckpointError(file, `unknown compression format ${preview(globalOverride)}`, { field: 'format' });
  }
  for (const [name, raw] of Object.entries(input.config_groups)) {
    const field = `config_groups.${name}`;
    const scheme = normalizeQuantizationScheme(raw, { file, field });
    if (!scheme.weights) throw new CheckpointError(file, 'has no weight quantization; activation-only groups are not written', { field });
    let format = scheme.format ?? (globalOverride !== null && globalOverride !== 'mixed-precision' ? globalOverride : null);
    if (format === null) {
      try {
        format = inferFormat(scheme);
      } catch (e) {
        throw new CheckpointError(file, (e as Error).message, { field });
      }
    }
    if (!(WRITABLE_FORMATS as readonly string[]).includes(format)) {
      throw new CheckpointError(file, `format "${format}" is not written by this project (writable: ${WRITABLE_FORMATS.join(', ')})`, { field: `${field}.format` });
    }
    groups[name] = { ...scheme, format };
    formats.set(name, format as LayerFormat);
  }
  const distinct = [...new Set(formats.values())];
  let format: CompressionFormat;
  if (globalOverride === null) format = distinct.length === 1 ? distinct[0] : 'mixed-precision';
  else {
    if (globalOverride !== 'mixed-precision' && distinct.some((f) => f !== globalOverride)) {
      throw new CheckpointError(file, `global format "${globalOverride}" disagrees with group formats (${distinct.join(', ')}); use "mixed-precision"`, { field: 'format' });
    }
    format = globalOverride;
  }
  const ignore = [...new Set(input.ignore ?? [])];
  if (!ignore.every((x) => typeof x === 'string')) throw new CheckpointError(file, 'must be a list of strings', { field: 'ignore' });
  for (const t of ignore) checkTargetPattern(file, 'ignore', t);
  if (!options.lmHeadQuantized && !ignore.includes('lm_head')) ignore.push('lm_head');
  const kv = input.kv_cache_scheme ? normalizeQuantizationArgs(input.kv_cache_scheme, { file, field: 'kv_cache_scheme' }) : null;
  if (kv && !(kv.type === 'float' && kv.num_bits === 8 && kv.strategy === 'tensor' && kv.symmetric)) {
    // vLLM's validate_kv_cache_scheme accepts only this (§3.6).
    throw new CheckpointError(file, 'vLLM accepts only FP8 (type float, num_bits 8), strategy tensor, symmetric KV-cache quantization', { field: 'kv_cache_scheme' });
  }
  const ratio = input.global_compression_ratio ?? null;
  if (ratio !== null && (typeof ratio !== 'number' || !Number.isFinite(ratio))) throw new CheckpointError(file, 'must be a number or null', { field: 'global_compression_ratio' });
  return {
    config: {
      config_groups: groups,
      format,
      global_compression_ratio: ratio,
      ignore,
      kv_cache_scheme: kv,
      quant_method: 'compressed-tensors',
      quantization_status: 'compressed',
      sparsity_config: {},
      transform_config: {},
      version: input.version ?? TARGET_CT_VERSION,
    },
    formats,
  };
}

/** A `quantization_config` read from a checkpoint, normalised, with what a loader would reject listed. */
export interface ParsedQuantizationConfig {
  readonly config: QuantizationConfig;
  /** Non-fatal findings: unknown keys, a status other than "compressed", missing lm_head in ignore, … */
  readonly problems: readonly string[];
}

/**
 * Parses `quantization_config` from a config.json (§2). Structural errors
 * (not an object, no config groups, bad args) are CheckpointErrors naming the
 * field; things some loader rejects but that do not stop reading are returned
 * as problems.
 */
export function parseQuantizationConfig(file: string, raw: unknown): ParsedQuantizationConfig {
  const problems: string[] = [];
  const field = 'quantization_config';
  if (!isJsonObject(raw)) throw new CheckpointError(file, 'must be an object', { field });
  if (raw.quant_method !== 'compressed-tensors') {
    throw new CheckpointError(file, `quant_method is ${preview(raw.quant_method)}, not "compressed-tensors"`, { field: `${field}.quant_method` });
  }
  const groupsRaw = raw.config_groups ?? {};
  if (!isJsonObject(groupsRaw)) throw new CheckpointError(file, 'must be an object', { field: `${field}.config_groups` });
  const ctx = (f: string): ParseContext => ({ file, field: f, problems });
  const groups: Record<string, QuantizationScheme> = {};
  for (const [name, g] of Object.entries(groupsRaw)) groups[name] = normalizeQuantizationScheme(g, ctx(`${field}.config_groups.${name}`));
  const format = (raw.format ?? 'dense') as CompressionFormat;
  if (!(COMPRESSION_FORMATS as readonly string[]).includes(format)) throw new CheckpointError(file, `unknown compression format ${preview(format)}`, { field: `${field}.format` });
  if (format === 'mixed-precision') {
    for (const [name, g] of Object.entries(groups)) if (!g.format) problems.push(`${file}: ${field}.config_groups.${name}: global format is mixed-precision but the group has no format (vLLM finds no scheme)`);
  }
  const ignoreRaw = raw.ignore ?? [];
  if (!Array.isArray(ignoreRaw) || !ignoreRaw.every((x) => typeof x === 'string')) throw new CheckpointError(file, 'must be a list of strings', { field: `${field}.ignore` });
  for (const t of ignoreRaw as string[]) checkTargetPattern(file, `${field}.ignore`, t);
  const status = (raw.quantization_status ?? 'initialized') as QuantizationConfig['quantization_status'];
  if (status !== 'compressed' && Object.keys(groups).length > 0) problems.push(`${file}: ${field}.quantization_status is "${status}", so loaders treat the weights as not compressed`);
  const kv = raw.kv_cache_scheme ? normalizeQuantizationArgs(raw.kv_cache_scheme, ctx(`${field}.kv_cache_scheme`)) : null;
  const sparsity = isJsonObject(raw.sparsity_config) ? raw.sparsity_config : {};
  if (Object.keys(sparsity).length > 0) problems.push(`${file}: ${field}.sparsity_config is set; current vLLM and compressed-tensors ≥ 0.15 cannot load sparse-compressed weights (§2.10)`);
  return {
    config: {
      config_groups: groups,
      format,
      global_compression_ratio: typeof raw.global_compression_ratio === 'number' ? raw.global_compression_ratio : null,
      ignore: ignoreRaw as string[],
      kv_cache_scheme: kv,
      quant_method: 'compressed-tensors',
      quantization_status: status,
      sparsity_config: sparsity,
      transform_config: isJsonObject(raw.transform_config) ? raw.transform_config : {},
      version: typeof raw.version === 'string' ? raw.version : '',
    },
    problems,
  };
}

/**
 * The dtype scales are written in: the model's `torch_dtype` when it is
 * float32, float16 or bfloat16, else bfloat16 (§3.0; transformers'
 * decompression produces weights of the scale's dtype).
 */
export function scaleDtypeFor(torchDtype: string | null | undefined): ScaleDType {
  if (torchDtype === 'float32') return 'F32';
  if (torchDtype === 'float16') return 'F16';
  return 'BF16';
}

/** One-line summary of args, e.g. `int4 asym group(128) actorder=group` or `fp8 dynamic token`. */
export function describeArgs(a: QuantizationArgs): string {
  const parts = [`${a.type}${a.num_bits}`];
  if (!a.symmetric) parts.push('asym');
  if (a.dynamic === true) parts.push('dynamic');
  if (a.dynamic === 'local') parts.push('dynamic=local');
  if (a.strategy === 'group' || a.strategy === 'tensor_group') parts.push(`${a.strategy}(${a.group_size})`);
  else if (a.strategy === 'block') parts.push(`block(${(a.block_structure ?? []).join('x')})`);
  else parts.push(a.strategy);
  if (a.actorder) parts.push(`actorder=${a.actorder}`);
  return parts.join(' ');
}
