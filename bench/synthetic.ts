/**
 * Synthetic Llama-shaped models for the end-to-end scenarios, written to
 * disk as a Hugging Face folder (config.json, model.safetensors or shards,
 * tokenizer.json) with src/io's writer. Every tensor is generated from
 * (seed, tensor name) while the writer streams it, chunk by chunk, so a 1B or
 * 8B model never sits in host memory; the same seed gives byte-identical
 * files. The tokenizer is stories260K's when /work/shared has it, else a
 * small character-level BPE written here (the scenarios feed pre-tokenized
 * ids, so only loading it matters).
 *
 * CLI: `node dist/bench/synthetic.js --size tiny|125m|1b|3b|8b [--seed N] [--dtype BF16|F32] --out DIR [--overwrite]`
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeOutputFolder } from '../src/io/node/output.js';
import { writeWholeFile } from '../src/io/folder.js';
import { writeSafetensorsCheckpoint, type TensorEntry } from '../src/io/safetensors/writer.js';

/** The shape of a Llama-family decoder, as config.json spells it. */
export interface LlamaShape {
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
  readonly tieWordEmbeddings: boolean;
  readonly maxPositionEmbeddings: number;
}

/**
 * Sizes the scenarios use. `125m` is GPT-2-small-like proportions in Llama
 * form; `1b`, `3b`, `8b` are Llama-3.2-1B, Llama-3.2-3B and Llama-3.1-8B.
 */
export const SYNTHETIC_SIZES = {
  tiny: { hiddenSize: 256, intermediateSize: 768, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, headDim: 64, vocabSize: 512, tieWordEmbeddings: true, maxPositionEmbeddings: 2048 },
  '125m': { hiddenSize: 768, intermediateSize: 2048, numHiddenLayers: 12, numAttentionHeads: 12, numKeyValueHeads: 4, headDim: 64, vocabSize: 32000, tieWordEmbeddings: false, maxPositionEmbeddings: 2048 },
  '1b': { hiddenSize: 2048, intermediateSize: 8192, numHiddenLayers: 16, numAttentionHeads: 32, numKeyValueHeads: 8, headDim: 64, vocabSize: 128256, tieWordEmbeddings: true, maxPositionEmbeddings: 8192 },
  '3b': { hiddenSize: 3072, intermediateSize: 8192, numHiddenLayers: 28, numAttentionHeads: 24, numKeyValueHeads: 8, headDim: 128, vocabSize: 128256, tieWordEmbeddings: true, maxPositionEmbeddings: 8192 },
  '8b': { hiddenSize: 4096, intermediateSize: 14336, numHiddenLayers: 32, numAttentionHeads: 32, numKeyValueHeads: 8, headDim: 128, vocabSize: 128256, tieWordEmbeddings: false, maxPositionEmbeddings: 8192 },
} as const satisfies Record<string, LlamaShape>;

export type SyntheticSize = keyof typeof SYNTHETIC_SIZES;
export type SyntheticDType = 'BF16' | 'F32';

/** One tensor of the model: name, shape and how its values are drawn. */
export interface SyntheticTensor {
  readonly name: string;
  readonly shape: readonly [number] | readonly [number, number];
  /** `weight`: centred, std ≈ 0.02 (Linear, embedding); `norm`: 1 ± 0.05 (RMSNorm gains). */
  readonly kind: 'weight' | 'norm';
}

/** Every tensor of a Llama checkpoint with Hugging Face names. */
export function syntheticTensors(s: LlamaShape): SyntheticTensor[] {
  const h = s.hiddenSize;
  const q = s.numAttentionHeads * s.headDim;
  const kv = s.numKeyValueHeads * s.headDim;
  const out: SyntheticTensor[] = [{ name: 'model.embed_tokens.weight', shape: [s.vocabSize, h], kind: 'weight' }];
  for (let i = 0; i < s.numHiddenLayers; i++) {
    const p = `model.layers.${i}`;
    out.push(
      { name: `${p}.input_layernorm.weight`, shape: [h], kind: 'norm' },
      { name: `${p}.self_attn.q_proj.weight`, shape: [q, h], kind: 'weight' },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kv, h], kind: 'weight' },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kv, h], kind: 'weight' },
      { name: `${p}.self_attn.o_proj.weight`, shape: [h, q], kind: 'weight' },
      { name: `${p}.post_attention_layernorm.weight`, shape: [h], kind: 'norm' },
      { name: `${p}.mlp.gate_proj.weight`, shape: [s.intermediateSize, h], kind: 'weight' },
      { name: `${p}.mlp.up_proj.weight`, shape: [s.intermediateSize, h], kind: 'weight' },
      { name: `${p}.mlp.down_proj.weight`, shape: [h, s.intermediateSize], kind: 'weight' },
    );
  }
  out.push({ name: 'model.norm.weight', shape: [h], kind: 'norm' });
  if (!s.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [s.vocabSize, h], kind: 'weight' });
  return out;
}

/** Parameters of a shape (tied embeddings counted once). */
export function syntheticParameterCount(s: LlamaShape): number {
  return syntheticTensors(s).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
}

/** Parameters in the Linear layers of the decoder (what a quantization recipe targets; lm_head excluded). */
export function syntheticLinearParameterCount(s: LlamaShape): number {
  return syntheticTensors(s)
    .filter((t) => t.name.startsWith('model.layers.') && t.kind === 'weight')
    .reduce((n, t) => n + t.shape[0] * (t.shape[1] ?? 1), 0);
}

/** config.json of a shape, with the keys transformers writes for Llama. */
export function syntheticConfig(s: LlamaShape, dtype: SyntheticDType): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: 1,
    eos_token_id: 2,
    head_dim: s.headDim,
    hidden_act: 'silu',
    hidden_size: s.hiddenSize,
    initializer_range: 0.02,
    intermediate_size: s.intermediateSize,
    max_position_embeddings: s.maxPositionEmbeddings,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: s.numAttentionHeads,
    num_hidden_layers: s.numHiddenLayers,
    num_key_value_heads: s.numKeyValueHeads,
    rms_norm_eps: 1e-5,
    rope_scaling: null,
    rope_theta: 500000.0,
    tie_word_embeddings: s.tieWordEmbeddings,
    torch_dtype: dtype === 'BF16' ? 'bfloat16' : 'float32',
    use_cache: true,
    vocab_size: s.vocabSize,
  };
}

/** FNV-1a of the name mixed with the seed: each tensor's own stream. */
function tensorSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h || 1;
}

/** Elements generated per chunk handed to the writer. */
const CHUNK_ELEMS = 1 << 22;

/**
 * The tensor's bytes as a stream of chunks. One xorshift draw per element:
 * its two 16-bit halves summed give a triangular distribution (centred,
 * bounded, never all zeros), scaled to std 0.02 for weights.
 */
export async function* syntheticTensorBytes(t: SyntheticTensor, seed: number, dtype: SyntheticDType): AsyncGenerator<Uint8Array> {
  const n = t.shape.reduce((a, b) => a * b, 1);
  let s = tensorSeed(seed, t.name);
  // Sum of two U(0,1) has std 1/√6; rescale to 0.02 (weights) or 0.05·√6-ish spread around 1 (norms).
  const weightScale = (0.02 * Math.sqrt(6)) / 65536;
  const normScale = 0.05 / 65536;
  const scale = t.kind === 'weight' ? weightScale : normScale;
  const offset = t.kind === 'weight' ? -65535 * weightScale : 1 - 65535 * normScale;
  const f = new Float32Array(Math.min(n, CHUNK_ELEMS));
  const u = new Uint32Array(f.buffer);
  for (let done = 0; done < n; done += f.length) {
    const m = Math.min(f.length, n - done);
    for (let i = 0; i < m; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      f[i] = ((s & 0xffff) + (s >>> 16)) * scale + offset;
    }
    if (dtype === 'F32') {
      yield new Uint8Array(f.buffer, 0, m * 4).slice();
    } else {
      const bf = new Uint16Array(m);
      // Round to nearest even on the dropped 16 bits (values are finite).
      for (let i = 0; i < m; i++) {
        const x = u[i];
        bf[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
      }
      yield new Uint8Array(bf.buffer);
    }
  }
}

/** A character-level BPE tokenizer.json (printable ASCII, `<unk>` `<s>` `</s>`), for machines without stories260K. */
export function fallbackTokenizer(): { tokenizer: Record<string, unknown>; config: Record<string, unknown> } {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  let id = 3;
  for (let c = 32; c < 127; c++) vocab[String.fromCharCode(c)] = id++;
  const special = (i: number, content: string) => ({ id: i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: null,
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: null,
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: [] },
  };
  return { tokenizer, config: { add_bos_token: true, add_eos_token: false, bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', model_max_length: 2048, tokenizer_class: 'PreTrainedTokenizerFast' } };
}

/** Repository root (bench/ and dist/bench/ both resolve to it). */
export function repoRoot(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const up = resolve(here, '..');
  return existsSync(join(up, 'package.json')) ? up : resolve(up, '..');
}

/** stories260K's folder beside the repository (`../shared/models/stories260K`), if present. */
export function storiesDir(): string | undefined {
  const dir = resolve(repoRoot(), '..', 'shared', 'models', 'stories260K');
  return existsSync(join(dir, 'tokenizer.json')) ? dir : undefined;
}

export interface SyntheticOptions {
  size: SyntheticSize;
  seed: number;
  dtype?: SyntheticDType;
  /** Replace an existing folder. */
  overwrite?: boolean;
  /** Where to take tokenizer.json from; default stories260K when present, else the fallback. `false`: always the fallback. */
  tokenizerFrom?: string | false;
  /** Largest safetensors shard in bytes (default 5 GB, as transformers). */
  maxShardBytes?: number;
}

/** What {@link writeSyntheticModel} wrote. */
export interface SyntheticModel {
  readonly dir: string;
  readonly size: SyntheticSize;
  readonly seed: number;
  readonly dtype: SyntheticDType;
  readonly shape: LlamaShape;
  readonly parameters: number;
  readonly linearParameters: number;
  /** Tensor bytes on disk. */
  readonly bytes: number;
  readonly files: readonly string[];
  /** Vocabulary of the tokenizer written beside the model (ids a dataset may use). */
  readonly tokenizerVocab: number;
  readonly seconds: number;
}

/**
 * Writes a synthetic model to `dir` (atomically: a temporary folder renamed
 * into place, so an interrupted run leaves nothing there).
 */
export async function writeSyntheticModel(dir: string, options: SyntheticOptions): Promise<SyntheticModel> {
  const t0 = performance.now();
  const shape: LlamaShape = SYNTHETIC_SIZES[options.size];
  if (!shape) throw new Error(`synthetic: unknown size "${options.size}" (sizes: ${Object.keys(SYNTHETIC_SIZES).join(', ')})`);
  if (!Number.isSafeInteger(options.seed) || options.seed < 0) throw new Error(`synthetic: seed must be a non-negative integer, got ${options.seed}`);
  const dtype = options.dtype ?? 'BF16';
  const tensors = syntheticTensors(shape);
  const entries: TensorEntry[] = tensors.map((t) => ({ name: t.name, dtype, shape: t.shape, data: () => syntheticTensorBytes(t, options.seed, dtype) }));
  const from = options.tokenizerFrom === false ? undefined : options.tokenizerFrom ?? storiesDir();
  let tokenizerText: string;
  let tokenizerConfigText: string;
  if (from) {
    tokenizerText = await readFile(join(from, 'tokenizer.json'), 'utf8');
    const cfg = join(from, 'tokenizer_config.json');
    tokenizerConfigText = existsSync(cfg) ? await readFile(cfg, 'utf8') : '{}\n';
  } else {
    const fb = fallbackTokenizer();
    tokenizerText = JSON.stringify(fb.tokenizer, null, 2) + '\n';
    tokenizerConfigText = JSON.stringify(fb.config, null, 2) + '\n';
  }
  const tokJson = JSON.parse(tokenizerText) as { model?: { vocab?: Record<string, number> | unknown[] }; added_tokens?: { id: number }[] };
  const vocabIds = Array.isArray(tokJson.model?.vocab) ? tokJson.model.vocab.length : Object.keys(tokJson.model?.vocab ?? {}).length;
  const tokenizerVocab = Math.min(shape.vocabSize, Math.max(vocabIds, ...(tokJson.added_tokens ?? []).map((a) => a.id + 1)));
  const written = await writeOutputFolder(dir, { overwrite: options.overwrite }, async (out) => {
    const w = await writeSafetensorsCheckpoint(out, entries, { maxShardBytes: options.maxShardBytes });
    await writeWholeFile(out, 'config.json', JSON.stringify(syntheticConfig(shape, dtype), null, 2) + '\n');
    await writeWholeFile(out, 'generation_config.json', JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }, null, 2) + '\n');
    await writeWholeFile(out, 'tokenizer.json', tokenizerText);
    await writeWholeFile(out, 'tokenizer_config.json', tokenizerConfigText);
    return w;
  });
  return {
    dir, size: options.size, seed: options.seed, dtype, shape,
    parameters: syntheticParameterCount(shape), linearParameters: syntheticLinearParameterCount(shape),
    bytes: written.totalSize, files: written.files, tokenizerVocab, seconds: (performance.now() - t0) / 1000,
  };
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { size: { type: 'string', default: 'tiny' }, seed: { type: 'string', default: '0' }, dtype: { type: 'string', default: 'BF16' }, out: { type: 'string' }, overwrite: { type: 'boolean', default: false } },
    }));
  } catch (e) {
    console.error(`synthetic: ${(e as Error).message}`);
    return 2;
  }
  const size = values.size as SyntheticSize;
  const dtype = values.dtype?.toUpperCase() as SyntheticDType;
  if (!(size in SYNTHETIC_SIZES) || (dtype !== 'BF16' && dtype !== 'F32') || !values.out || !/^\d+$/.test(values.seed ?? '')) {
    console.error(`usage: synthetic --size ${Object.keys(SYNTHETIC_SIZES).join('|')} [--seed N] [--dtype BF16|F32] --out DIR [--overwrite]`);
    return 2;
  }
  const m = await writeSyntheticModel(values.out, { size, seed: Number(values.seed), dtype, overwrite: values.overwrite });
  console.log(`wrote ${m.dir}: ${m.size}, ${(m.parameters / 1e6).toFixed(1)} M parameters, ${m.dtype}, ${(m.bytes / 1e9).toFixed(2)} GB in ${m.seconds.toFixed(1)} s`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e: unknown) => {
    console.error(`synthetic: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
