/**
 * Model-execution benchmarks: forward throughput of a synthetic Llama and the
 * GPU memory the sequential calibration pipeline holds compared with the
 * whole model.
 *
 * Full mode uses a Llama-3.2-1B-shaped model (hidden 2048, MLP 8192, 16
 * layers, 32 query / 8 kv heads of 64, vocabulary 128256, tied embeddings;
 * ≈1.24 B parameters, 4.9 GB in f32) at sequence lengths 512 and 2048 — sized
 * for real GPUs (on a CPU emulator one 2048-token forward is ~5 TFLOP).
 * Quick mode uses a ~10 M-parameter model of the same proportions.
 */
import type { Hardware } from '../src/gpu/hardware.js';
import { parseLlamaConfig, type LlamaConfig } from '../src/models/llama/config.js';
import { llamaParameterCount, type WeightSpec } from '../src/models/llama/weights.js';
import { causalLMFromHostWeights } from '../src/models/load.js';
import type { CausalLM } from '../src/models/causalLM.js';
import { CompressionSession } from '../src/core/session.js';
import { Modifier, type InitializeOptions } from '../src/modifiers/modifier.js';
import type { State } from '../src/core/state.js';
import { LoggerManager } from '../src/loggers/manager.js';
import { runLayerwiseCalibration } from '../src/pipelines/sequential.js';
import type { PipelineContext } from '../src/pipelines/pipeline.js';
import { type BenchEntry, type BenchOptions, summarize } from './types.js';

const LLAMA_1B = {
  architectures: ['LlamaForCausalLM'], hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32,
  num_key_value_heads: 8, head_dim: 64, vocab_size: 128256, rms_norm_eps: 1e-5, rope_theta: 500000, tie_word_embeddings: true,
  max_position_embeddings: 131072,
  rope_scaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
};

const LLAMA_SMALL = {
  ...LLAMA_1B, hidden_size: 256, intermediate_size: 1024, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 1, vocab_size: 16384,
};

/** Deterministic pseudo-random weights per tensor, generated on demand (never the whole model in host memory). */
function syntheticWeight(spec: WeightSpec): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  let s = 0x9e3779b9;
  for (const c of spec.name) s = (Math.imul(s ^ c.charCodeAt(0), 0x01000193) >>> 0);
  if (spec.kind === 'norm') return out.fill(1);
  const scale = spec.kind === 'linear' ? 1 / Math.sqrt(spec.shape[1]) : spec.kind === 'bias' ? 0.01 : 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    // Uniform with unit variance, scaled.
    out[i] = (s / 2 ** 32 - 0.5) * 3.4641016 * scale;
  }
  return out;
}

function randomIds(n: number, vocab: number, seed: number): Int32Array {
  let s = seed >>> 0;
  return Int32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % vocab;
  });
}

/** One full forward (embeddings, every layer, final norm, lm_head and NLL) of `ids`; resolves when the GPU is done. */
async function forwardOnce(hw: Hardware, model: CausalLM, ids: Int32Array): Promise<void> {
  const shape = { batch: 1, seqLen: ids.length };
  let h = await model.embed(ids, shape);
  for (let i = 0; i < model.numLayers; i++) {
    const next = await model.layerForward(i, h, shape);
    h.dispose();
    h = next;
  }
  const nll = await model.nextTokenNll(h, ids, shape);
  h.dispose();
  await nll.readF32();
  nll.dispose();
  await hw.sync();
}

async function benchForward(hw: Hardware, name: string, config: LlamaConfig, seqLens: number[], reps: number): Promise<BenchEntry[]> {
  const model = causalLMFromHostWeights(hw, config, syntheticWeight);
  const params = llamaParameterCount(config);
  const out: BenchEntry[] = [];
  try {
    // Warm-up: loads every weight and compiles every pipeline (a short sequence suffices).
    await forwardOnce(hw, model, randomIds(Math.min(16, ...seqLens), config.vocabSize, 1));
    for (const T of seqLens) {
      const ids = randomIds(T, config.vocabSize, T);
      const times: number[] = [];
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        await forwardOnce(hw, model, ids);
        times.push((performance.now() - t0) / 1000);
      }
      const { median, spread } = summarize(times.map((t) => T / t));
      // Matmul FLOPs (2 per multiply-add, lm_head included) plus causal attention (QKᵀ and PV).
      const attn = 2 * 2 * config.numHiddenLayers * config.numAttentionHeads * config.headDim * (T * (T + 1)) / 2;
      const flops = 2 * params * T + attn;
      out.push({
        name: `forward.${name}.seq${T}`, unit: 'tokens/s', value: median, spread,
        extra: { params, seqLen: T, seconds: T / median, gflops: flops / (T / median) / 1e9 },
      });
    }
  } finally {
    await model.dispose?.();
  }
  return out;
}

/**
 * A calibration modifier stand-in: a no-op forward_pre hook on every Linear
 * of the decoder layers (lm_head ignored, as GPTQ recipes do), so the hook
 * path runs without modifier state skewing the memory figure.
 */
class HookOnlyModifier extends Modifier {
  static override readonly requiresCalibrationData = true;
  onInitialize(state: State, _options: InitializeOptions): void {
    for (const m of state.model!.root.modules()) if (m.isA('Linear') && m.name.startsWith('model.layers.')) this.registerHook(m, 'forward_pre', () => {});
  }
}

async function benchSequentialMemory(hw: Hardware, name: string, config: LlamaConfig, samples: number, seqLen: number): Promise<BenchEntry[]> {
  const model = causalLMFromHostWeights(hw, config, syntheticWeight);
  try {
    const modifier = new HookOnlyModifier();
    const session = new CompressionSession();
    await session.initialize({ recipe: [modifier], model, hardware: hw, loggers: LoggerManager.silent() });
    const data = Array.from({ length: samples }, (_, i) => randomIds(seqLen, config.vocabSize, 1000 + i));
    const ctx: PipelineContext = {
      session, model, hardware: hw, modifiers: [modifier], dataset: data, loggers: LoggerManager.silent(),
      options: { numCalibrationSamples: samples, seed: 0 },
    };
    const before = hw.pool.stats().liveBytes;
    const stats = await runLayerwiseCalibration(ctx, 'sequential');
    await session.finalize();
    const modelBytes = model.parameterBytes;
    return [{
      name: `sequential.${name}.peakGpuBytes`, unit: 'bytes', value: stats.peakGpuBytes,
      extra: {
        modelBytes, fractionOfModel: stats.peakGpuBytes / modelBytes, samples, seqLen, seconds: stats.seconds,
        layers: config.numHiddenLayers, liveBytesBefore: before,
        // Calibration tokens through the whole pipeline (each layer runs twice: calibration and propagation).
        calibrationTokensPerSecond: (samples * seqLen) / stats.seconds,
      },
    }];
  } finally {
    await model.dispose?.();
  }
}

export default async function benchModelForward(hw: Hardware, opts: BenchOptions): Promise<BenchEntry[]> {
  const entries: BenchEntry[] = [];
  if (opts.quick) {
    const small = parseLlamaConfig(LLAMA_SMALL, 'bench llama-small');
    entries.push(...await benchForward(hw, 'llamaSmall', small, [128, 512], 2));
    entries.push(...await benchSequentialMemory(hw, 'llamaSmall', small, 4, 128));
  } else {
    const big = parseLlamaConfig(LLAMA_1B, 'bench llama-1B');
    // A software adapter runs a 2048-token forward of this model (≈5 TFLOP) in
    // minutes: one repetition, and a shorter calibration for the memory figure.
    const software = hw.info.isFallbackAdapter;
    entries.push(...await benchForward(hw, 'llama1B', big, [512, 2048], software ? 1 : 3));
    entries.push(...await benchSequentialMemory(hw, 'llama1B', big, software ? 2 : 16, software ? 128 : 512));
  }
  return entries;
}
