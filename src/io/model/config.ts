import { CheckpointError } from '../errors.js';
import { isJsonObject, preview } from '../json.js';

/** Rotary-embedding scaling as `rope_scaling` (or newer `rope_parameters`) describes it. */
export interface RopeScaling {
  /** `rope_type` (or legacy `type`): `linear`, `dynamic`, `yarn`, `llama3`, `longrope`, … */
  readonly ropeType: string;
  readonly factor?: number;
  readonly originalMaxPositionEmbeddings?: number;
  /** llama3 */
  readonly lowFreqFactor?: number;
  readonly highFreqFactor?: number;
  /** yarn */
  readonly betaFast?: number;
  readonly betaSlow?: number;
  readonly attentionFactor?: number;
  /** longrope */
  readonly shortFactor?: readonly number[];
  readonly longFactor?: readonly number[];
  /** Every key as written, for types this interface does not spell out. */
  readonly raw: Readonly<Record<string, unknown>>;
}

/** Rotary position embedding settings. */
export interface RopeConfig {
  /** Base frequency (`rope_theta`, default 10000). */
  readonly theta: number;
  /** Null when absent or `"default"`. */
  readonly scaling: RopeScaling | null;
  /** Fraction of head_dim that rotates (`partial_rotary_factor`, default 1). */
  readonly partialRotaryFactor: number;
}

/**
 * The parts of a Hugging Face `config.json` the engine uses, typed and
 * checked. The original object is kept in `raw` so an output config can be
 * written back with only `quantization_config` added.
 */
export interface ModelConfig {
  /** `architectures[0]`, e.g. `LlamaForCausalLM`. */
  readonly architecture: string;
  readonly architectures: readonly string[];
  /** `model_type`, e.g. `llama`. */
  readonly modelType: string;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  /** Defaults to numAttentionHeads (multi-head attention). */
  readonly numKeyValueHeads: number;
  /** Defaults to hiddenSize / numAttentionHeads. */
  readonly headDim: number;
  readonly vocabSize: number;
  readonly maxPositionEmbeddings: number;
  /** `rms_norm_eps` (default 1e-6). */
  readonly rmsNormEps: number;
  /** `hidden_act` (default `silu`). */
  readonly hiddenAct: string;
  readonly rope: RopeConfig;
  /** `lm_head` shares `embed_tokens`' weight; default false (LlamaConfig's default). */
  readonly tieWordEmbeddings: boolean;
  /** `torch_dtype` (or newer `dtype`): `float32`, `float16`, `bfloat16`; null when absent. */
  readonly torchDtype: string | null;
  readonly attentionBias: boolean;
  readonly mlpBias: boolean;
  readonly bosTokenId: number | readonly number[] | null;
  readonly eosTokenId: number | readonly number[] | null;
  /** `quantization_config` when the checkpoint is already quantized. */
  readonly quantizationConfig: Readonly<Record<string, unknown>> | null;
  /** The whole parsed JSON object. */
  readonly raw: Readonly<Record<string, unknown>>;
}

/**
 * Parses config.json's object into a {@link ModelConfig}. A missing required
 * field (hidden_size, num_hidden_layers, num_attention_heads, vocab_size) or
 * a field of the wrong type is a CheckpointError naming `file` and the field.
 */
export function parseModelConfig(file: string, json: unknown): ModelConfig {
  if (!isJsonObject(json)) throw new CheckpointError(file, 'is not a JSON object');
  const o = json;
  const fail = (field: string, detail: string): never => {
    throw new CheckpointError(file, detail, { field });
  };
  const int = (field: string, dflt?: number): number => {
    const v = o[field];
    if (v === undefined || v === null) {
      if (dflt === undefined) return fail(field, 'is missing (required)');
      return dflt;
    }
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return fail(field, `must be a non-negative integer, got ${preview(v)}`);
    return v;
  };
  const num = (field: string, dflt: number, from: Record<string, unknown> = o): number => {
    const v = from[field];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) return fail(field, `must be a number, got ${preview(v)}`);
    return v;
  };
  const bool = (field: string, dflt: boolean): boolean => {
    const v = o[field];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') return fail(field, `must be true or false, got ${preview(v)}`);
    return v;
  };
  const str = (field: string, dflt: string | null): string | null => {
    const v = o[field];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'string') return fail(field, `must be a string, got ${preview(v)}`);
    return v;
  };
  const tokenId = (field: string): number | number[] | null => {
    const v = o[field];
    if (v === undefined || v === null) return null;
    if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
    if (Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isSafeInteger(x))) return v as number[];
    return fail(field, `must be an integer or a list of integers, got ${preview(v)}`);
  };

  let architectures: string[] = [];
  if (o.architectures !== undefined && o.architectures !== null) {
    if (!Array.isArray(o.architectures) || !o.architectures.every((a) => typeof a === 'string')) fail('architectures', 'must be a list of strings');
    architectures = o.architectures as string[];
  }
  const modelType = str('model_type', null);
  if (architectures.length === 0 && modelType === null) fail('architectures', 'is missing, and so is model_type: cannot tell the architecture');

  const hiddenSize = int('hidden_size');
  const numAttentionHeads = int('num_attention_heads');
  if (numAttentionHeads === 0) fail('num_attention_heads', 'must be positive');
  const numKeyValueHeads = int('num_key_value_heads', numAttentionHeads);
  if (numKeyValueHeads === 0 || numAttentionHeads % numKeyValueHeads !== 0) {
    fail('num_key_value_heads', `${numKeyValueHeads} does not divide num_attention_heads ${numAttentionHeads}`);
  }
  const headDim = int('head_dim', Math.floor(hiddenSize / numAttentionHeads));
  const torchDtype = str('torch_dtype', null) ?? str('dtype', null);

  return {
    architecture: architectures[0] ?? (modelType as string),
    architectures,
    modelType: modelType ?? '',
    hiddenSize,
    intermediateSize: int('intermediate_size', 4 * hiddenSize),
    numHiddenLayers: int('num_hidden_layers'),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    vocabSize: int('vocab_size'),
    maxPositionEmbeddings: int('max_position_embeddings', 2048),
    rmsNormEps: num('rms_norm_eps', 1e-6),
    hiddenAct: str('hidden_act', 'silu') as string,
    rope: parseRope(file, o),
    tieWordEmbeddings: bool('tie_word_embeddings', false),
    torchDtype,
    attentionBias: bool('attention_bias', false),
    mlpBias: bool('mlp_bias', false),
    bosTokenId: tokenId('bos_token_id'),
    eosTokenId: tokenId('eos_token_id'),
    quantizationConfig: isJsonObject(o.quantization_config) ? o.quantization_config : null,
    raw: o,
  };
}

function parseRope(file: string, o: Record<string, unknown>): RopeConfig {
  // transformers ≥ 4.56 may move everything into `rope_parameters`; older configs use rope_theta + rope_scaling.
  const params = isJsonObject(o.rope_parameters) ? o.rope_parameters : undefined;
  const scalingRaw = o.rope_scaling ?? params;
  const thetaRaw = o.rope_theta ?? params?.rope_theta;
  const factorRaw = o.partial_rotary_factor ?? params?.partial_rotary_factor;
  const number = (field: string, v: unknown, dflt: number): number => {
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new CheckpointError(file, `must be a number, got ${preview(v)}`, { field });
    return v;
  };
  const theta = number('rope_theta', thetaRaw, 10000);
  const partialRotaryFactor = number('partial_rotary_factor', factorRaw, 1);
  if (scalingRaw === undefined || scalingRaw === null) return { theta, scaling: null, partialRotaryFactor };
  if (!isJsonObject(scalingRaw)) throw new CheckpointError(file, 'must be an object or null', { field: 'rope_scaling' });
  const s = scalingRaw;
  const type = s.rope_type ?? s.type ?? 'default';
  if (typeof type !== 'string') throw new CheckpointError(file, 'must be a string', { field: 'rope_scaling.rope_type' });
  if (type === 'default') return { theta, scaling: null, partialRotaryFactor };
  const opt = (k: string): number | undefined => {
    const v = s[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new CheckpointError(file, `must be a number, got ${preview(v)}`, { field: `rope_scaling.${k}` });
    return v;
  };
  const list = (k: string): number[] | undefined => {
    const v = s[k];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw new CheckpointError(file, 'must be a list of numbers', { field: `rope_scaling.${k}` });
    return v as number[];
  };
  return {
    theta,
    partialRotaryFactor,
    scaling: {
      ropeType: type,
      factor: opt('factor'),
      originalMaxPositionEmbeddings: opt('original_max_position_embeddings'),
      lowFreqFactor: opt('low_freq_factor'),
      highFreqFactor: opt('high_freq_factor'),
      betaFast: opt('beta_fast'),
      betaSlow: opt('beta_slow'),
      attentionFactor: opt('attention_factor'),
      shortFactor: list('short_factor'),
      longFactor: list('long_factor'),
      raw: s,
    },
  };
}
