import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed, rng } from '../helpers/random.js';
import { Modifier, type InitializeOptions } from '../../src/modifiers/modifier.js';
import type { State } from '../../src/core/state.js';
import type { Event, Subgraph } from '../../src/core/events.js';
import { CompressionSession } from '../../src/core/session.js';
import { LoggerManager } from '../../src/loggers/manager.js';
import { Tensor } from '../../src/gpu/tensor.js';
import type { Hardware } from '../../src/gpu/hardware.js';
import { causalLMFromHostWeights } from '../../src/models/load.js';
import type { CausalLM } from '../../src/models/causalLM.js';
import { LlamaReference } from '../../src/models/reference/llama.js';
import type { LlamaConfig } from '../../src/models/llama/config.js';
import { sequentialPipeline, runLayerwiseCalibration } from '../../src/pipelines/sequential.js';
import { layerSequentialPipeline } from '../../src/pipelines/layerSequential.js';
import { basicPipeline } from '../../src/pipelines/basic.js';
import { getPipeline, registerPipeline } from '../../src/pipelines/registry.js';
import type { CalibrationPipeline, PipelineContext } from '../../src/pipelines/pipeline.js';
import { smallConfig, randomWeights } from './synthetic.js';
import { calibrationSamples } from '../../src/models/calibrationData.js';
import { relMaxError } from './helpers.js';

const hardware = useHardware();

/**
 * A stand-in for a calibration modifier: records every q_proj input it sees
 * through a forward_pre hook, which weights are resident at that moment, and
 * "compresses" each calibrated layer by halving its o_proj weight.
 */
class ProbeModifier extends Modifier {
  static override readonly requiresCalibrationData = true;
  inputs = new Map<string, Float32Array[]>();
  resident: string[][] = [];
  subgraphs: string[][] = [];

  onInitialize(state: State, _options: InitializeOptions): void {
    for (const m of state.model!.root.modules()) {
      if (!m.name.endsWith('q_proj')) continue;
      this.registerHook(m, 'forward_pre', async (call) => {
        const list = this.inputs.get(m.name) ?? [];
        this.inputs.set(m.name, list);
        list.push(await call.inputs[0].readF32());
        this.resident.push([...state.model!.root.namedParameters()].filter(([, p]) => p.resident).map(([n]) => n));
      });
    }
  }

  override async onSequentialEpochEnd(state: State, subgraph: Subgraph, _event: Event): Promise<void> {
    this.subgraphs.push(subgraph.modules.map((m) => m.name));
    for (const m of subgraph.modules) {
      if (!m.name.endsWith('o_proj')) continue;
      const p = m.getParameter('weight')!;
      const w = await (await p.get()).readF32();
      p.set(Tensor.fromData(state.hardware!, w.map((x) => x * 0.5), p.shape, 'f32'));
    }
  }
}

function samplesFor(config: LlamaConfig, seed: number, lengths: number[]): Int32Array[] {
  const r = rng(seed);
  return lengths.map((n) => Int32Array.from({ length: n }, () => Math.floor(r() * config.vocabSize)));
}

async function runPipeline(hw: Hardware, model: CausalLM, pipeline: CalibrationPipeline, samples: Int32Array[], run?: (ctx: PipelineContext) => Promise<unknown>): Promise<ProbeModifier> {
  const probe = new ProbeModifier();
  const session = new CompressionSession();
  await session.initialize({ recipe: [probe], model, hardware: hw, loggers: LoggerManager.silent() });
  const ctx: PipelineContext = {
    session, model, hardware: hw, modifiers: [probe], dataset: { samples }, loggers: LoggerManager.silent(),
    options: { numCalibrationSamples: samples.length, seed: 0 },
  };
  await (run ? run(ctx) : pipeline.run(ctx));
  await session.finalize();
  return probe;
}

/** Reference q_proj input of `layer` for one sample, with o_proj halved in layers before `compressedBelow`. */
function referenceQInput(config: LlamaConfig, weights: Map<string, Float32Array>, layer: number, compressedBelow: number, ids: Int32Array): Float64Array {
  const cfg: LlamaConfig = { ...config, numHiddenLayers: layer, slidingWindows: config.slidingWindows.slice(0, layer) };
  const ref = new LlamaReference(cfg, (n) => {
    if (n === 'model.norm.weight') return weights.get(`model.layers.${layer}.input_layernorm.weight`)!;
    const w = weights.get(n)!;
    const m = /^model\.layers\.(\d+)\.self_attn\.o_proj\.weight$/.exec(n);
    return m && Number(m[1]) < compressedBelow ? w.map((x) => x * 0.5) : w;
  });
  return ref.finalHidden(ids);
}

describe('sequential pipeline', () => {
  it('calibrates layer by layer: hooks see the outputs of already-compressed layers', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const config = { ...smallConfig('llama'), numHiddenLayers: 3, slidingWindows: [null, null, null] };
    const weights = randomWeights(config, seed);
    const samples = samplesFor(config, seed + 1, [7, 11, 5]);
    await inErrorScope(hw, async () => {
      const model = causalLMFromHostWeights(hw, config, (s) => weights.get(s.name)!);
      const probe = await runPipeline(hw, model, sequentialPipeline, samples);
      // One subgraph per layer; embeddings in the first, final norm and lm_head in the last.
      expect(probe.subgraphs.length).toBe(3);
      expect(probe.subgraphs[0]).toContain('model.embed_tokens');
      expect(probe.subgraphs[0]).toContain('model.layers.0.self_attn.q_proj');
      expect(probe.subgraphs[0]).not.toContain('model.layers.1');
      expect(probe.subgraphs[2]).toContain('lm_head');
      expect(probe.subgraphs[2]).toContain('model.norm');
      for (let layer = 0; layer < 3; layer++) {
        const seen = probe.inputs.get(`model.layers.${layer}.self_attn.q_proj`)!;
        // Calibration pass only: one call per sample.
        expect(seen.length).toBe(samples.length);
        samples.forEach((ids, s) => {
          const err = relMaxError(seen[s], referenceQInput(config, weights, layer, layer, ids));
          expect(err, `seed ${seed} layer ${layer} sample ${s}`).toBeLessThan(1e-5);
        });
      }
      // Only the layer being calibrated (and weights already compressed) are on the GPU.
      probe.resident.forEach((names, i) => {
        const layer = Math.floor(i / samples.length);
        for (const n of names) {
          const m = /^model\.layers\.(\d+)\./.exec(n);
          const ok = (m && (Number(m[1]) === layer || n.endsWith('o_proj.weight'))) || (layer === 0 && n === 'model.embed_tokens.weight') || (layer === 0 && n === 'lm_head.weight');
          expect(ok, `resident during layer ${layer}: ${n}`).toBeTruthy();
        }
      });
      await model.dispose?.();
    });
  });

  it('gives the same activations when they are offloaded to host memory, and without error propagation uses uncompressed outputs', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const config = { ...smallConfig('qwen3 (q/k norm, head_dim ≠ hidden/heads)'), numHiddenLayers: 2, slidingWindows: [null, null] };
    const weights = randomWeights(config, seed);
    const samples = samplesFor(config, seed + 1, [6, 9]);
    await inErrorScope(hw, async () => {
      const model = causalLMFromHostWeights(hw, config, (s) => weights.get(s.name)!);
      let offloads = -1;
      const probe = await runPipeline(hw, model, sequentialPipeline, samples, async (ctx) => {
        offloads = (await runLayerwiseCalibration(ctx, 'sequential', { activationBudgetBytes: 0 })).offloads;
      });
      expect(offloads).toBe(2 * samples.length);
      const seen = probe.inputs.get('model.layers.1.self_attn.q_proj')!;
      samples.forEach((ids, s) => expect(relMaxError(seen[s], referenceQInput(config, weights, 1, 1, ids))).toBeLessThan(1e-5));
      await model.dispose?.();

      const model2 = causalLMFromHostWeights(hw, config, (s) => weights.get(s.name)!);
      const probe2 = await runPipeline(hw, model2, sequentialPipeline, samples, (ctx) => runLayerwiseCalibration(ctx, 'sequential', { propagateError: false }));
      const seen2 = probe2.inputs.get('model.layers.1.self_attn.q_proj')!;
      samples.forEach((ids, s) => expect(relMaxError(seen2[s], referenceQInput(config, weights, 1, 0, ids))).toBeLessThan(1e-5));
      await model2.dispose?.();
    });
  });

  it('refuses sequential targets finer than a decoder layer', async () => {
    const hw = await hardware();
    const config = smallConfig('llama');
    const weights = randomWeights(config, 3);
    const model = causalLMFromHostWeights(hw, config, (s) => weights.get(s.name)!);
    const probe = new ProbeModifier();
    const session = new CompressionSession();
    await session.initialize({ recipe: [probe], model, hardware: hw, loggers: LoggerManager.silent() });
    const ctx: PipelineContext = {
      session, model, hardware: hw, modifiers: [probe], dataset: [[1, 2, 3]], loggers: LoggerManager.silent(),
      options: { numCalibrationSamples: 1, seed: 0, sequentialTargets: ['Linear'] },
    };
    await expect(sequentialPipeline.run(ctx)).rejects.toThrow(/cut decoder layer model\.layers\.0 into several subgraphs/);
    await expect(sequentialPipeline.run({ ...ctx, dataset: undefined, options: { numCalibrationSamples: 1, seed: 0 } })).rejects.toThrow(/no dataset was given/);
  });
});

describe('layer_sequential and basic pipelines', () => {
  it('layer_sequential: subgraphs are the layers alone, with error propagation', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const config = { ...smallConfig('mistral (sliding window 5)'), numHiddenLayers: 2, slidingWindows: [5, 5] };
    const weights = randomWeights(config, seed);
    const samples = samplesFor(config, seed + 1, [8, 4]);
    await inErrorScope(hw, async () => {
      const model = causalLMFromHostWeights(hw, config, (s) => weights.get(s.name)!);
      const probe = await runPipeline(hw, model, layerSequentialPipeline, samples);
      expect(probe.subgraphs.map((g) => g[0])).toEqual(['model.layers.0', 'model.layers.1']);
      expect(probe.subgraphs.flat().some((n: string) => n.includes('embed') || n.includes('lm_head'))).toBe(false);
      const seen = probe.inputs.get('model.layers.1.self_attn.q_proj')!;
      samples.forEach((ids, s) => expect(relMaxError(seen[s], referenceQInput(config, weights, 1, 1, ids))).toBeLessThan(1e-5));
      await model.dispose?.();
    });
  });

  it('basic: whole-model forwards, one epoch end with every module, no propagation', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const config = { ...smallConfig('qwen2 (q/k/v bias)'), numHiddenLayers: 2, slidingWindows: [null, null] };
    const weights = randomWeights(config, seed);
    const samples = samplesFor(config, seed + 1, [5, 10]);
    await inErrorScope(hw, async () => {
      const model = causalLMFromHostWeights(hw, config, (s) => weights.get(s.name)!);
      const probe = await runPipeline(hw, model, basicPipeline, samples);
      expect(probe.subgraphs.length).toBe(1);
      expect(probe.subgraphs[0].length).toBe([...model.root.modules()].length);
      const seen = probe.inputs.get('model.layers.1.self_attn.q_proj')!;
      samples.forEach((ids, s) => expect(relMaxError(seen[s], referenceQInput(config, weights, 1, 0, ids))).toBeLessThan(1e-5));
      await model.dispose?.();
    });
  });

  it('accepts tokenized documents, ready samples or arrays as calibration data', () => {
    const documents = Array.from({ length: 10 }, (_, d) => Array.from({ length: 30 }, (_, i) => d * 100 + i));
    const a = calibrationSamples({ documents }, { numCalibrationSamples: 4, maxSeqLength: 8, seed: 3 }, 'test');
    expect(a.length).toBe(4);
    expect(a.every((x) => x.length === 8)).toBe(true);
    expect(calibrationSamples({ documents }, { numCalibrationSamples: 4, maxSeqLength: 8, seed: 3 }, 'test')).toEqual(a);
    const docs = calibrationSamples({ documents, mode: 'documents' }, { numCalibrationSamples: 3, maxSeqLength: 100, seed: 3 }, 'test');
    expect(docs.map((x) => x.length)).toEqual([30, 30, 30]);
    expect(calibrationSamples([[1, 2, 3], [4, 5]], { numCalibrationSamples: 5, maxSeqLength: 2, seed: 0 }, 'test').map((x) => [...x])).toEqual([[1, 2], [4, 5]]);
    expect(() => calibrationSamples('data.txt', { numCalibrationSamples: 1, seed: 0 }, 'sequential')).toThrow(/expects calibration data as \{ documents \}/);
  });

  it('registers under llm-compressor names', () => {
    for (const p of [basicPipeline, sequentialPipeline, layerSequentialPipeline]) registerPipeline(p);
    expect(getPipeline('layer-sequential')).toBe(layerSequentialPipeline);
    expect(getPipeline('basic').needsData).toBe(true);
  });
});

