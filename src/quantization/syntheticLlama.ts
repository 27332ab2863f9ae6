/**
 * A synthetic Llama checkpoint generated deterministically from a seed: the
 * built-in model of `wgc demo` and the large model of the data-free
 * throughput benchmark. Weights are Gaussian (σ 0.02, like an initialised
 * Llama) with a sprinkle of 8σ outliers so quantization error varies across
 * layers; stored as bf16 (or f32), written tensor by tensor, so a model of
 * billions of parameters never sits in memory whole.
 */
import type { OutputFolder } from '../io/folder.js';
import { writeWholeFile } from '../io/folder.js';
import { writeSafetensorsCheckpoint, type TensorEntry } from '../io/safetensors/writer.js';

/** Shape of the synthetic model. */
export interface SyntheticLlamaConfig {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  vocabSize: number;
  dtype: 'bfloat16' | 'float32';
  seed: number;
  /** Shard size in bytes (default 5 GB, as transformers writes). */
  maxShardBytes?: number;
}

/** The `wgc demo` default: ~3.4 M parameters, every Linear dimension a multiple of 128. */
export const DEMO_LLAMA: SyntheticLlamaConfig = {
  hiddenSize: 256, intermediateSize: 768, numLayers: 4, numHeads: 8, numKvHeads: 4, vocabSize: 1024, dtype: 'bfloat16', seed: 260,
};

/** TinyLlama-1.1B's shape (≈1.1 B parameters), for the throughput benchmark. */
export const BENCH_LLAMA_1B: SyntheticLlamaConfig = {
  hiddenSize: 2048, intermediateSize: 5632, numLayers: 22, numHeads: 32, numKvHeads: 4, vocabSize: 32000, dtype: 'bfloat16', seed: 1100,
};

/** Tensor names and shapes of the model, in Hugging Face naming. */
export function syntheticLlamaTensors(c: SyntheticLlamaConfig): { name: string; shape: [number] | [number, number]; norm: boolean }[] {
  const h = c.hiddenSize;
  const hd = h / c.numHeads;
  const kv = c.numKvHeads * hd;
  const out: { name: string; shape: [number] | [number, number]; norm: boolean }[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocabSize, h], norm: false }];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}`;
    out.push(
      { name: `${p}.input_layernorm.weight`, shape: [h], norm: true },
      { name: `${p}.self_attn.q_proj.weight`, shape: [h, h], norm: false },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kv, h], norm: false },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kv, h], norm: false },
      { name: `${p}.self_attn.o_proj.weight`, shape: [h, h], norm: false },
      { name: `${p}.post_attention_layernorm.weight`, shape: [h], norm: true },
      { name: `${p}.mlp.gate_proj.weight`, shape: [c.intermediateSize, h], norm: false },
      { name: `${p}.mlp.up_proj.weight`, shape: [c.intermediateSize, h], norm: false },
      { name: `${p}.mlp.down_proj.weight`, shape: [h, c.intermediateSize], norm: false },
    );
  }
  out.push({ name: 'model.norm.weight', shape: [h], norm: true }, { name: 'lm_head.weight', shape: [c.vocabSize, h], norm: false });
  return out;
}

/** Total parameters. */
export function syntheticLlamaParams(c: SyntheticLlamaConfig): number {
  return syntheticLlamaTensors(c).reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
}

/** config.json of the model. */
export function syntheticLlamaConfigJson(c: SyntheticLlamaConfig): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    num_hidden_layers: c.numLayers,
    head_dim: c.hiddenSize / c.numHeads,
    hidden_act: 'silu',
    rms_norm_eps: 1e-5,
    rope_theta: 10000.0,
    vocab_size: c.vocabSize,
    max_position_embeddings: 2048,
    tie_word_embeddings: false,
    torch_dtype: c.dtype,
    bos_token_id: 1,
    eos_token_id: 2,
  };
}

/** FNV-1a of a string: per-tensor seeds independent of generation order. */
function hash(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** The values of one tensor as bf16 bits or f32 bytes. */
function tensorBytes(name: string, shape: readonly number[], norm: boolean, c: SyntheticLlamaConfig): Uint8Array {
  const n = shape.reduce((a, b) => a * b, 1);
  let s = hash(name, c.seed) || 1;
  const next = (): number => {
    // xorshift32: fast, deterministic, plenty for weights
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  const f32 = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(next(), 1e-12);
    const v = next();
    const m = Math.sqrt(-2 * Math.log(u));
    f32[i] = norm ? 1 + 0.05 * m * Math.cos(2 * Math.PI * v) : 0.02 * m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) f32[i + 1] = norm ? 1 + 0.05 * m * Math.sin(2 * Math.PI * v) : 0.02 * m * Math.sin(2 * Math.PI * v);
  }
  if (!norm) for (let i = Math.floor(next() * 997); i < n; i += 997 + Math.floor(next() * 3000)) f32[i] *= 8;
  if (c.dtype === 'float32') return new Uint8Array(f32.buffer);
  const u32 = new Uint32Array(f32.buffer);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const b = u32[i];
    out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return new Uint8Array(out.buffer);
}

/** Writes the model (config.json + safetensors) into `out`, one tensor in memory at a time. */
export async function writeSyntheticLlama(out: OutputFolder, c: SyntheticLlamaConfig): Promise<void> {
  const dtype = c.dtype === 'bfloat16' ? 'BF16' : 'F32';
  const entries: TensorEntry[] = syntheticLlamaTensors(c).map((t) => ({ name: t.name, dtype, shape: t.shape, data: () => tensorBytes(t.name, t.shape, t.norm, c) }));
  await writeSafetensorsCheckpoint(out, entries, { maxShardBytes: c.maxShardBytes });
  await writeWholeFile(out, 'config.json', JSON.stringify(syntheticLlamaConfigJson(c), null, 2) + '\n');
}
