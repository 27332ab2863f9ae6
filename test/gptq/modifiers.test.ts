/**
 * GPTQ, SparseGPT, Wanda and magnitude pruning as recipe modifiers, end to
 * end through `oneshot` and the sequential pipeline on a small random Llama:
 * the calibration inputs a module really saw are recorded by a test hook and
 * fed to the float64 references, which the modified weights must match.
 */
import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed, rng } from '../helpers/random.js';
import type { Hardware } from '../../src/gpu/hardware.js';
import { causalLMFromHostWeights } from '../../src/models/load.js';
import type { CausalLM } from '../../src/models/causalLM.js';
import type { LlamaConfig } from '../../src/models/llama/config.js';
import { oneshot } from '../../src/oneshot.js';
import { LoggerManager } from '../../src/loggers/manager.js';
import type { LogRecord } from '../../src/loggers/types.js';
import { smallConfig, randomWeights } from '../models/synthetic.js';
import { gptqReference } from '../../src/compression/reference/gptq.js';
import { sparseGptReference } from '../../src/compression/reference/sparsegpt.js';
import { wandaReference, magnitudeThresholdMask } from '../../src/compression/reference/wanda.js';
import { accumulateColumnNorms, accumulateHessianMean, accumulateHessianSum } from '../../src/compression/reference/linalg.js';
import { observeMinMax } from '../../src/compression/reference/quantize.js';
import type { Module } from '../../src/core/model.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { CompressionSession } from '../../src/core/session.js';
import { Event, EventType } from '../../src/core/events.js';
import { ConstantPruningModifier } from '../../src/modifiers/pruning/constant.js';

const hardware = useHardware();

function model(hw: Hardware, seed: number): { model: CausalLM; config: LlamaConfig; weights: Map<string, Float32Array> } {
  const config = smallConfig('llama');
  const weights = randomWeights(config, seed);
  return { model: causalLMFromHostWeights(hw, config, (spec) => weights.get(spec.name)!), config, weights };
}

function samples(config: LlamaConfig, seed: number, count = 6, length = 24): Int32Array[] {
  const r = rng(seed);
  return Array.from({ length: count }, () => Int32Array.from({ length }, () => Math.floor(r() * config.vocabSize)));
}

/** Records the inputs `name` receives during calibration (the pipeline turns hooks off for propagation). */
function recordInputs(m: CausalLM, name: string): Float32Array[] {
  const out: Float32Array[] = [];
  const mod = m.root.getModule(name)!;
  mod.registerHook('forward', async (call) => {
    out.push(await call.inputs[0].readF32());
  });
  return out;
}

function recordingLoggers(): { loggers: LoggerManager; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const loggers = new LoggerManager([{ write: (r) => records.push(r) }]);
  return { loggers, records };
}

async function weightOf(m: CausalLM, name: string): Promise<Float32Array> {
  return (await m.root.getModule(name)!.getParameter('weight')!.get()).readF32();
}

function linears(m: CausalLM): Module[] {
  return [...m.root.modules()].filter((x) => x.isA('Linear') && x.name !== 'lm_head');
}

describe('GPTQModifier', () => {
  it('W4 channel-wise, actorder static: q_proj of layer 1 matches the float64 reference; every Linear carries weight_scale', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const { model: m, config, weights } = model(hw, seed);
    const name = 'model.layers.1.self_attn.q_proj';
    const inputs = recordInputs(m, name);
    const { loggers, records } = recordingLoggers();
    await inErrorScope(hw, async () => {
      await oneshot({
        model: m,
        hardware: hw,
        loggers,
        dataset: { samples: samples(config, seed) },
        recipe: {
          GPTQModifier: {
            ignore: ['lm_head'],
            config_groups: { group_0: { targets: ['Linear'], weights: { num_bits: 4, type: 'int', symmetric: true, strategy: 'channel' } } },
          },
        },
      });
      const n = config.hiddenSize;
      const h = new Float64Array(n * n);
      for (const x of inputs) accumulateHessianSum(h, x, x.length / n, n);
      for (let i = 0; i < h.length; i++) h[i] /= inputs.length;
      const layout = { strategy: 'channel' as const };
      const fmt = { type: 'int' as const, numBits: 4 };
      const ref = gptqReference(weights.get(`${name}.weight`)!, n, n, h, {
        blockSize: 128, dampFrac: 0.01, actorder: 'static', format: fmt, layout, observe: (w, r, c) => observeMinMax(w, r, c, layout, fmt, true),
      });
      const got = await weightOf(m, name);
      let bad = 0;
      for (let i = 0; i < got.length; i++) if (got[i] !== ref.weight[i]) bad++;
      expect(bad / got.length, `seed ${seed}: codes differing from the reference`).toBeLessThanOrEqual(0.001);
      const scale = await m.root.getModule(name)!.getParameter('weight_scale')!.get();
      expect(scale.shape).toEqual([n, 1]);
      expect(Array.from(await scale.readF32())).toEqual(Array.from(Float32Array.from(ref.scale)));
      for (const l of linears(m)) expect(l.getParameter('weight_scale'), l.name).toBeDefined();
      const layerRecs = records.filter((r) => r.type === 'layer' && r.modifier === 'GPTQModifier');
      expect(layerRecs.length).toBe(linears(m).length);
      const rec = layerRecs.find((r) => r.type === 'layer' && r.layer === name);
      expect(rec && rec.type === 'layer' ? Math.abs(rec.error! - ref.loss) / ref.loss : 1).toBeLessThan(1e-3);
    });
  });

  it('mixed precision: int8 attention and int4 group-32 MLP in one recipe', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const { model: m, config } = model(hw, seed);
    await inErrorScope(hw, async () => {
      await oneshot({
        model: m, hardware: hw, loggers: LoggerManager.silent(), dataset: { samples: samples(config, seed) },
        recipe: {
          GPTQModifier: {
            ignore: ['lm_head'],
            config_groups: {
              attention: { targets: ['re:.*self_attn\\..*_proj$'], weights: { num_bits: 8, type: 'int', symmetric: true, strategy: 'channel' } },
              mlp: { targets: ['re:.*mlp\\..*_proj$'], weights: { num_bits: 4, type: 'int', symmetric: true, strategy: 'group', group_size: 32 } },
            },
          },
        },
      });
      for (const l of linears(m)) {
        const w = await (await l.getParameter('weight')!.get()).readF32();
        const s = await (await l.getParameter('weight_scale')!.get()).readF32();
        const [rows, cols] = l.getParameter('weight')!.shape;
        const attn = l.name.includes('self_attn');
        expect(s.length).toBe(attn ? rows : rows * (cols / 32));
        // Every value is an integer multiple of its scale within the code range.
        for (let i = 0; i < w.length; i++) {
          const k = attn ? Math.floor(i / cols) : Math.floor(i / cols) * (cols / 32) + Math.floor((i % cols) / 32);
          const q = w[i] / s[k];
          expect(Math.abs(q - Math.round(q))).toBeLessThan(1e-3);
          expect(Math.round(q)).toBeGreaterThanOrEqual(attn ? -128 : -8);
          expect(Math.round(q)).toBeLessThanOrEqual(attn ? 127 : 7);
        }
      }
    });
  });

  it('offload_hessians (host-held Hessians between calls) gives the same weights', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const results: Float32Array[] = [];
    for (const offload of [false, true]) {
      const { model: m, config } = model(hw, seed);
      await inErrorScope(hw, async () => {
        await oneshot({
          model: m, hardware: hw, loggers: LoggerManager.silent(), dataset: { samples: samples(config, seed, 3) },
          recipe: { GPTQModifier: { offload_hessians: offload, ignore: ['lm_head'], config_groups: { g: { targets: ['re:.*mlp\\.down_proj$'], weights: { num_bits: 4, strategy: 'channel' } } } } },
        });
        results.push(await weightOf(m, 'model.layers.1.mlp.down_proj'));
      });
    }
    expect(Array.from(results[1])).toEqual(Array.from(results[0]));
  });

  it('refuses a tied lm_head unless it is ignored', async () => {
    const hw = await hardware();
    const { model: m, config } = model(hw, 5);
    await expect(oneshot({
      model: m, hardware: hw, loggers: LoggerManager.silent(), dataset: { samples: samples(config, 5) },
      recipe: { GPTQModifier: { scheme: 'W8A16' } },
    })).rejects.toThrow(/lm_head\.weight is tied to model\.embed_tokens\.weight.*ignore/);
  });
});

describe('pruning modifiers', () => {
  it('SparseGPT 2:4 then GPTQ W4A16-style quantization: the 2:4 zeros survive; layer-1 down_proj matches the SparseGPT reference', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const { model: m, config, weights } = model(hw, seed);
    const name = 'model.layers.1.mlp.down_proj';
    const inputs = recordInputs(m, name);
    const { loggers, records } = recordingLoggers();
    await inErrorScope(hw, async () => {
      await oneshot({
        model: m, hardware: hw, loggers, dataset: { samples: samples(config, seed) },
        recipe: {
          sparsity_stage: { sparsity_modifiers: { SparseGPTModifier: { sparsity: 0.5, mask_structure: '2:4', ignore: ['lm_head'] } } },
          quant_stage: {
            quant_modifiers: {
              GPTQModifier: { ignore: ['lm_head'], config_groups: { g: { targets: ['Linear'], weights: { num_bits: 4, type: 'int', symmetric: true, strategy: 'group', group_size: 32 } } } },
            },
          },
        },
      });
      for (const l of linears(m)) {
        const w = await (await l.getParameter('weight')!.get()).readF32();
        for (let g = 0; g < w.length; g += 4) {
          let z = 0;
          for (let k = 0; k < 4; k++) z += w[g + k] === 0 ? 1 : 0;
          if (z < 2) throw new Error(`${l.name}: group at ${g} has ${z} zeros after SparseGPT 2:4 + GPTQ`);
        }
        expect(l.getParameter('weight_scale')).toBeDefined();
      }
      expect(records.some((r) => r.type === 'metric' && r.name === 'global_sparsity' && Math.abs(r.value - 0.5) < 0.01)).toBe(true);
      // SparseGPT alone on the recorded inputs: its mask must be zero in the final weight
      // (quantization adds zeros of its own where small values round to 0).
      const [rows, cols] = [config.hiddenSize, config.intermediateSize];
      const h = new Float64Array(cols * cols);
      inputs.forEach((x, i) => accumulateHessianMean(h, i, 1, x, x.length / cols, cols));
      const ref = sparseGptReference(weights.get(`${name}.weight`)!, rows, cols, h, { sparsity: 0.5, pruneN: 2, pruneM: 4, blockSize: 128, dampFrac: 0.01, preserveSparsityMask: false });
      const got = await weightOf(m, name);
      let bad = 0;
      for (let i = 0; i < got.length; i++) if (ref.mask[i] && got[i] !== 0) bad++;
      expect(bad / got.length, `seed ${seed}`).toBeLessThanOrEqual(0.001);
    });
  });

  it('Wanda 50% unstructured: each row loses exactly half; masks match the reference on recorded inputs', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const { model: m, config, weights } = model(hw, seed);
    const name = 'model.layers.0.mlp.gate_proj';
    const inputs = recordInputs(m, name);
    await inErrorScope(hw, async () => {
      await oneshot({ model: m, hardware: hw, loggers: LoggerManager.silent(), dataset: { samples: samples(config, seed) }, recipe: { WandaPruningModifier: { sparsity: 0.5, ignore: ['lm_head'] } } });
      const [rows, cols] = [config.intermediateSize, config.hiddenSize];
      const s = new Float64Array(cols);
      inputs.forEach((x, i) => accumulateColumnNorms(s, i, 1, x, x.length / cols, cols));
      const ref = wandaReference(weights.get(`${name}.weight`)!, rows, cols, Float32Array.from(s), 0.5, 0, 0);
      const got = await weightOf(m, name);
      let bad = 0;
      for (let i = 0; i < got.length; i++) if ((got[i] === 0 ? 1 : 0) !== ref.mask[i]) bad++;
      expect(bad / got.length, `seed ${seed}`).toBeLessThanOrEqual(0.001);
      for (let r = 0; r < rows; r++) expect(got.subarray(r * cols, (r + 1) * cols).filter((v) => v === 0).length).toBe(cols / 2);
    });
  });

  it('MagnitudePruningModifier: per-layer unstructured threshold and 2:4 (data-free)', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    for (const structure of ['unstructured', '2:4']) {
      const { model: m, weights } = model(hw, seed);
      await inErrorScope(hw, async () => {
        await oneshot({
          model: m, hardware: hw, loggers: LoggerManager.silent(),
          recipe: { MagnitudePruningModifier: { targets: ['re:.*layers\\.\\d+\\..*_proj$'], init_sparsity: 0.1, final_sparsity: 0.5, mask_structure: structure } },
        });
        for (const l of linears(m)) {
          const got = await (await l.getParameter('weight')!.get()).readF32();
          const w = weights.get(`${l.name}.weight`)!;
          if (structure === 'unstructured') {
            const want = magnitudeThresholdMask([w], 0.5)[0];
            for (let i = 0; i < w.length; i++) expect(got[i] === 0 ? 1 : 0).toBe(want[i]);
          } else {
            for (let g = 0; g < w.length; g += 4) expect([0, 1, 2, 3].filter((k) => got[g + k] === 0).length).toBeGreaterThanOrEqual(2);
          }
        }
      });
    }
  });

  it('ConstantPruningModifier keeps the zeros it saw at start through optimizer steps', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const { model: m } = model(hw, seed);
    const name = 'model.layers.0.mlp.up_proj';
    const p = m.root.getModule(name)!.getParameter('weight')!;
    const w0 = await (await p.get()).readF32();
    for (let i = 0; i < w0.length; i += 3) w0[i] = 0;
    p.set(Tensor.fromData(hw, w0, p.shape, 'f32'));
    const mod = new ConstantPruningModifier({ targets: [name], start: 0 });
    const session = new CompressionSession();
    await inErrorScope(hw, async () => {
      await session.initialize({ recipe: [mod], model: m, hardware: hw, loggers: LoggerManager.silent() });
      // An optimizer step refills everything; the modifier re-applies the mask.
      p.set(Tensor.fromData(hw, w0.map((v) => v + 1), p.shape, 'f32'));
      await mod.updateEvent(session.state, new Event({ type: EventType.OPTIM_POST_STEP }));
      const got = await (await p.get()).readF32();
      for (let i = 0; i < got.length; i++) expect(got[i]).toBe(w0[i] === 0 ? 0 : Math.fround(w0[i] + 1));
      await session.finalize();
    });
  });

  it('OWL spreads per-layer sparsities around the target', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    // Heavier-tailed weights in layer 1 (w → w³, rescaled) give it a different
    // outlier ratio than layer 0 whatever the seed; with equal ratios OWL
    // rightly leaves every layer at the target (a 1-in-many chance otherwise).
    const config = smallConfig('llama');
    const weights = randomWeights(config, seed);
    for (const [name, w] of weights) {
      if (!name.includes('layers.1.') || !name.endsWith('proj.weight')) continue;
      let s2 = 0;
      for (const v of w) s2 += v * v;
      const sigma = Math.sqrt(s2 / w.length) || 1;
      for (let i = 0; i < w.length; i++) w[i] = Math.fround(w[i] ** 3 / (sigma * sigma));
    }
    const m = causalLMFromHostWeights(hw, config, (spec) => weights.get(spec.name)!);
    const { loggers, records } = recordingLoggers();
    await inErrorScope(hw, async () => {
      await oneshot({
        model: m, hardware: hw, loggers, dataset: { samples: samples(config, seed) },
        recipe: { SparseGPTModifier: { sparsity: 0.5, sparsity_profile: 'owl', owl_m: 2, owl_lmbda: 0.1, ignore: ['lm_head'] } },
      });
      const msg = records.find((r) => r.type === 'message' && r.message.startsWith('OWL sparsities'));
      expect(msg).toBeDefined();
      const sp = records.filter((r) => r.type === 'layer' && r.modifier === 'SparseGPTModifier').map((r) => (r.type === 'layer' ? r.extra!.sparsity : 0));
      const mean = sp.reduce((a, b) => a + b, 0) / sp.length;
      expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
      expect(Math.max(...sp) - Math.min(...sp)).toBeGreaterThan(0.05);
    });
  });
});
