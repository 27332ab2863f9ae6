import { parseLlamaConfig, type LlamaConfig } from '../../src/models/llama/config.js';
import { llamaWeightSpecs, type WeightSpec } from '../../src/models/llama/weights.js';
import { randn, uniform } from '../helpers/random.js';

/** Small random configs of every supported architecture, each exercising its distinguishing features. */
export const SMALL_CONFIGS: Record<string, Record<string, unknown>> = {
  llama: {
    architectures: ['LlamaForCausalLM'], hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4,
    num_key_value_heads: 2, vocab_size: 128, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true, max_position_embeddings: 64,
  },
  'llama (llama3 RoPE scaling, attention and MLP bias, untied)': {
    architectures: ['LlamaForCausalLM'], hidden_size: 48, intermediate_size: 72, num_hidden_layers: 2, num_attention_heads: 6,
    num_key_value_heads: 3, vocab_size: 100, rms_norm_eps: 1e-6, rope_theta: 500000, attention_bias: true, mlp_bias: true, tie_word_embeddings: false,
    rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 },
  },
  'mistral (sliding window 5)': {
    architectures: ['MistralForCausalLM'], hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 8,
    num_key_value_heads: 2, vocab_size: 96, rms_norm_eps: 1e-5, rope_theta: 1000000, sliding_window: 5, tie_word_embeddings: false,
  },
  'qwen2 (q/k/v bias)': {
    architectures: ['Qwen2ForCausalLM'], hidden_size: 64, intermediate_size: 80, num_hidden_layers: 2, num_attention_heads: 4,
    num_key_value_heads: 1, vocab_size: 112, rms_norm_eps: 1e-6, rope_theta: 1000000, tie_word_embeddings: true, use_sliding_window: false,
  },
  'qwen3 (q/k norm, head_dim ≠ hidden/heads)': {
    architectures: ['Qwen3ForCausalLM'], hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4,
    num_key_value_heads: 2, head_dim: 32, vocab_size: 120, rms_norm_eps: 1e-6, rope_theta: 1000000, tie_word_embeddings: true,
  },
};

export function smallConfig(key: string): LlamaConfig {
  return parseLlamaConfig(SMALL_CONFIGS[key], `test config ${key}`);
}

/** Deterministic random weights per tensor: linear ~ N(0, 1/in), norms in [0.8, 1.2], embeddings ~ N(0, 1), biases ~ N(0, 0.1²). */
export function randomWeights(config: LlamaConfig, seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  llamaWeightSpecs(config).forEach((spec, i) => out.set(spec.name, randomTensor(spec, seed + 7919 * i)));
  return out;
}

export function randomTensor(spec: WeightSpec, seed: number): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  switch (spec.kind) {
    case 'linear': return randn(n, seed, 1 / Math.sqrt(spec.shape[1]));
    case 'norm': return uniform(n, seed, 0.8, 1.2);
    case 'bias': return randn(n, seed, 0.1);
    case 'embedding': return randn(n, seed, 1);
  }
}
