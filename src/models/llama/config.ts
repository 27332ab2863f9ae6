/**
 * Typed configuration of the Llama family (Llama, Mistral, Qwen2, Qwen3) read
 * from a Hugging Face `config.json`. The four architectures share one forward;
 * what differs between them is expressed here as data (biases, q/k norms,
 * sliding windows, RoPE scaling), so the kernels never branch on a name.
 */

/** Architectures the Llama-family forward runs. */
export const LLAMA_FAMILY_ARCHITECTURES = ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM', 'Qwen3ForCausalLM'] as const;
export type LlamaFamilyArchitecture = (typeof LLAMA_FAMILY_ARCHITECTURES)[number];

/** RoPE frequency scaling: none, or Llama 3.1's piecewise wavelength scaling. */
export type RopeScaling =
  | { type: 'default' }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };

export interface LlamaConfig {
  architecture: LlamaFamilyArchitecture;
  /** Prefix of HF class names: `Llama`, `Mistral`, `Qwen2`, `Qwen3` (`LlamaDecoderLayer`, `Qwen2RMSNorm`…). */
  classPrefix: string;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (Qwen2 always; Llama with `attention_bias`). */
  qkvBias: boolean;
  /** o_proj carries a bias (Llama with `attention_bias`). */
  oBias: boolean;
  /** gate/up/down projections carry a bias (Llama with `mlp_bias`). */
  mlpBias: boolean;
  /** Per-head RMSNorm on q and k before RoPE (Qwen3). */
  qkNorm: boolean;
  /** Sliding attention window per layer (`null`: full causal attention). */
  slidingWindows: (number | null)[];
  bosTokenId: number | null;
  eosTokenIds: number[];
}

/** A config.json problem: names the file and field. */
export class ModelConfigError extends Error {
  override name = 'ModelConfigError';
}

type Json = Record<string, unknown>;

/**
 * Keys the forward knows and either uses or knows to be irrelevant to
 * inference (training-time knobs, tokenizer ids, dtypes). Anything else that
 * changes the computation must be recognised here or rejected below.
 */
const IGNORED_KEYS = new Set([
  'architectures', 'model_type', 'torch_dtype', 'dtype', 'transformers_version', 'initializer_range', 'use_cache',
  'attention_dropout', 'pretraining_tp', 'pad_token_id', 'bos_token_id', 'eos_token_id', '_name_or_path', 'hidden_dropout',
  'output_attentions', 'output_hidden_states', 'return_dict', 'tie_word_embeddings', 'max_window_layers', 'use_sliding_window',
  'sliding_window', 'layer_types', 'quantization_config', 'compression_config', 'generation_config', 'id2label', 'label2id',
  'num_labels', 'is_decoder', 'is_encoder_decoder', 'chunk_size_feed_forward', 'add_cross_attention', 'use_mrope',
  'bos_token', 'eos_token', 'attention_implementation', '_attn_implementation_autoset', 'rope_theta', 'rope_scaling',
  'rope_parameters', 'head_dim', 'hidden_act', 'rms_norm_eps', 'hidden_size', 'intermediate_size', 'num_hidden_layers',
  'num_attention_heads', 'num_key_value_heads', 'vocab_size', 'max_position_embeddings', 'attention_bias', 'mlp_bias',
  'partial_rotary_factor', 'tokenizer_class', 'prefix', 'task_specific_params', 'problem_type', 'finetuning_task',
  'cache_implementation', 'keys_to_ignore_at_inference', 'router_aux_loss_coef', 'output_router_logits',
]);

/** Keys that would change the computation in ways this forward does not implement. */
const UNSUPPORTED_KEYS: Record<string, string> = {
  num_experts: 'mixture-of-experts layers',
  num_local_experts: 'mixture-of-experts layers',
  moe_intermediate_size: 'mixture-of-experts layers',
  attn_logit_softcapping: 'attention logit soft-capping',
  final_logit_softcapping: 'final logit soft-capping',
  query_pre_attn_scalar: 'a custom attention scale',
  vision_config: 'a vision tower',
  text_config: 'a nested text config (multimodal wrapper)',
};

function fail(file: string, field: string, msg: string): never {
  throw new ModelConfigError(`${file}: ${field}: ${msg}`);
}

function int(cfg: Json, key: string, file: string, dflt?: number): number {
  const v = cfg[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) fail(file, key, `expected a positive integer, got ${JSON.stringify(cfg[key])}`);
  return v;
}

function num(cfg: Json, key: string, file: string, dflt?: number): number {
  const v = cfg[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(file, key, `expected a number, got ${JSON.stringify(cfg[key])}`);
  return v;
}

function bool(cfg: Json, key: string, file: string, dflt: boolean): boolean {
  const v = cfg[key] ?? dflt;
  if (typeof v !== 'boolean') fail(file, key, `expected true or false, got ${JSON.stringify(cfg[key])}`);
  return v;
}

function parseRope(cfg: Json, file: string): { theta: number; scaling: RopeScaling } {
  // transformers ≥ 4.56 writes `rope_parameters` (holding rope_theta); older configs `rope_theta` + `rope_scaling`.
  const params = cfg.rope_parameters as Json | null | undefined;
  let theta = typeof cfg.rope_theta === 'number' ? cfg.rope_theta : undefined;
  let scaling = cfg.rope_scaling as Json | null | undefined;
  let where = 'rope_scaling';
  if (params && typeof params === 'object') {
    if (typeof params.rope_theta === 'number') theta = params.rope_theta;
    scaling = params;
    where = 'rope_parameters';
  }
  theta ??= 10000;
  if (!(theta > 0)) fail(file, 'rope_theta', `must be positive, got ${theta}`);
  if (scaling === null || scaling === undefined) return { theta, scaling: { type: 'default' } };
  if (typeof scaling !== 'object') fail(file, where, `expected an object or null`);
  const type = scaling.rope_type ?? scaling.type ?? 'default';
  if (type === 'default') return { theta, scaling: { type: 'default' } };
  if (type !== 'llama3') fail(file, `${where}.rope_type`, `"${String(type)}" is not supported (supported: default, llama3)`);
  const f = (k: string): number => {
    const v = scaling[k];
    if (typeof v !== 'number' || !(v > 0)) fail(file, `${where}.${k}`, `llama3 RoPE scaling needs a positive number, got ${JSON.stringify(v)}`);
    return v;
  };
  const s: RopeScaling = {
    type: 'llama3',
    factor: f('factor'),
    lowFreqFactor: f('low_freq_factor'),
    highFreqFactor: f('high_freq_factor'),
    originalMaxPositionEmbeddings: f('original_max_position_embeddings'),
  };
  if (s.highFreqFactor <= s.lowFreqFactor) fail(file, `${where}.high_freq_factor`, `must exceed low_freq_factor`);
  return { theta, scaling: s };
}

function parseSlidingWindows(cfg: Json, arch: LlamaFamilyArchitecture, layers: number, file: string): (number | null)[] {
  const window = cfg.sliding_window;
  const layerTypes = cfg.layer_types;
  if (Array.isArray(layerTypes)) {
    if (layerTypes.length !== layers) fail(file, 'layer_types', `has ${layerTypes.length} entries for ${layers} layers`);
    return layerTypes.map((t, i) => {
      if (t === 'full_attention') return null;
      if (t === 'sliding_attention') {
        if (typeof window !== 'number' || window <= 0) fail(file, 'sliding_window', `layer ${i} is sliding_attention but sliding_window is ${JSON.stringify(window)}`);
        return window;
      }
      return fail(file, `layer_types[${i}]`, `"${String(t)}" is not supported (full_attention, sliding_attention)`);
    });
  }
  if (arch === 'MistralForCausalLM') {
    if (window === null || window === undefined) return new Array(layers).fill(null);
    if (typeof window !== 'number' || window <= 0) fail(file, 'sliding_window', `expected a positive integer or null`);
    return new Array(layers).fill(window);
  }
  if (arch === 'Qwen2ForCausalLM' || arch === 'Qwen3ForCausalLM') {
    // Qwen's default layer_types: sliding only when use_sliding_window, for layers ≥ max_window_layers.
    if (!cfg.use_sliding_window) return new Array(layers).fill(null);
    if (typeof window !== 'number' || window <= 0) fail(file, 'sliding_window', `use_sliding_window is set but sliding_window is ${JSON.stringify(window)}`);
    const maxWindowLayers = typeof cfg.max_window_layers === 'number' ? cfg.max_window_layers : layers;
    return Array.from({ length: layers }, (_, i) => (i >= maxWindowLayers ? window : null));
  }
  if (window !== null && window !== undefined) fail(file, 'sliding_window', `is not a Llama config field`);
  return new Array(layers).fill(null);
}

/**
 * Validates a parsed `config.json` and returns the typed config. `file` names
 * the source in errors. An unknown architecture, an unsupported RoPE type or
 * activation, or a field that would change the computation is an error.
 */
export function parseLlamaConfig(raw: unknown, file = 'config.json'): LlamaConfig {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ModelConfigError(`${file}: expected a JSON object`);
  const cfg = raw as Json;
  const archs = cfg.architectures;
  if (!Array.isArray(archs) || archs.length !== 1 || typeof archs[0] !== 'string') {
    fail(file, 'architectures', `expected one architecture name, got ${JSON.stringify(archs)}`);
  }
  const architecture = archs[0] as string;
  if (!(LLAMA_FAMILY_ARCHITECTURES as readonly string[]).includes(architecture)) {
    fail(file, 'architectures', `"${architecture}" is not supported (supported: ${LLAMA_FAMILY_ARCHITECTURES.join(', ')})`);
  }
  const arch = architecture as LlamaFamilyArchitecture;
  for (const [k, what] of Object.entries(UNSUPPORTED_KEYS)) {
    if (cfg[k] !== undefined && cfg[k] !== null && cfg[k] !== 0) fail(file, k, `${what} is not supported`);
  }
  const act = cfg.hidden_act ?? 'silu';
  if (act !== 'silu') fail(file, 'hidden_act', `"${String(act)}" is not supported (the SwiGLU MLP needs silu)`);
  const partial = cfg.partial_rotary_factor;
  if (partial !== undefined && partial !== null && partial !== 1) fail(file, 'partial_rotary_factor', `${String(partial)} is not supported (only full rotary embeddings)`);
  const unknownKeys = Object.keys(cfg).filter((k) => !IGNORED_KEYS.has(k) && !(k in UNSUPPORTED_KEYS));
  // Unknown keys are most often harmless metadata; the forward cannot tell, so it
  // refuses only those that name a known computation-changing concept.
  for (const k of unknownKeys) {
    if (/softcap|expert|moe|alibi|mrope|rotary_pct|parallel_attn|logit_scale|residual_multiplier|embedding_multiplier/i.test(k)) {
      fail(file, k, `is not supported by the Llama-family forward`);
    }
  }

  const hiddenSize = int(cfg, 'hidden_size', file);
  const numAttentionHeads = int(cfg, 'num_attention_heads', file);
  const numKeyValueHeads = int(cfg, 'num_key_value_heads', file, numAttentionHeads);
  if (numAttentionHeads % numKeyValueHeads !== 0) fail(file, 'num_key_value_heads', `${numKeyValueHeads} does not divide num_attention_heads ${numAttentionHeads}`);
  const headDim = cfg.head_dim === undefined || cfg.head_dim === null ? hiddenSize / numAttentionHeads : int(cfg, 'head_dim', file);
  if (!Number.isInteger(headDim)) fail(file, 'head_dim', `hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numAttentionHeads}`);
  if (headDim % 2 !== 0) fail(file, 'head_dim', `RoPE needs an even head_dim, got ${headDim}`);
  const numHiddenLayers = int(cfg, 'num_hidden_layers', file);
  const attentionBias = bool(cfg, 'attention_bias', file, false);
  const qwen2 = arch === 'Qwen2ForCausalLM';
  const rope = parseRope(cfg, file);
  const eos = cfg.eos_token_id;
  const eosTokenIds = Array.isArray(eos) ? eos.filter((x): x is number => typeof x === 'number') : typeof eos === 'number' ? [eos] : [];
  return {
    architecture: arch,
    classPrefix: arch.replace(/ForCausalLM$/, ''),
    hiddenSize,
    intermediateSize: int(cfg, 'intermediate_size', file),
    numHiddenLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    vocabSize: int(cfg, 'vocab_size', file),
    rmsNormEps: num(cfg, 'rms_norm_eps', file, 1e-6),
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    maxPositionEmbeddings: int(cfg, 'max_position_embeddings', file, 2048),
    // Every config class of the family defaults to untied embeddings.
    tieWordEmbeddings: bool(cfg, 'tie_word_embeddings', file, false),
    qkvBias: qwen2 ? true : attentionBias,
    oBias: qwen2 ? false : attentionBias,
    mlpBias: arch === 'LlamaForCausalLM' ? bool(cfg, 'mlp_bias', file, false) : false,
    qkNorm: arch === 'Qwen3ForCausalLM',
    slidingWindows: parseSlidingWindows(cfg, arch, numHiddenLayers, file),
    bosTokenId: typeof cfg.bos_token_id === 'number' ? cfg.bos_token_id : null,
    eosTokenIds,
  };
}
