/**
 * SmoothQuantModifier through `oneshot` (sequential pipeline) on tiny random
 * Llamas, against a float64 reference of the whole transform: the smooth
 * layers' per-channel output range over the calibration set, the scales,
 * and the smoothed norm and balance weights; then SmoothQuant + W8A8
 * (QuantizationModifier) against the reference smoothing followed by the
 * reference quantizer. Also: the model's function is preserved, log
 * equalization, `ignore` semantics, explicit mappings, and the errors.
 */
import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed, rng } from '../helpers/random.js';
import { expectClose, relMaxError } from '../models/helpers.js';
import { randomWeights, SMALL_CONFIGS } from '../models/synthetic.js';
import type { Hardware } from '../../src/gpu/hardware.js';
import type { CausalLM } from '../../src/models/causalLM.js';
import { causalLMFromHostWeights } from '../../src/models/load.js';
import { parseLlamaConfig, type LlamaConfig } from '../../src/models/llama/config.js';
import { oneshot } from '../../src/oneshot.js';
import { LoggerManager } from '../../src/loggers/manager.js';
import { CompressionSession } from '../../src/core/session.js';
import { SmoothQuantModifier } from '../../src/modifiers/smoothquant/base.js';
import { referenceDivideRows, referenceScaleColumns, referenceSmoothQuantScales } from '../../src/modifiers/smoothquant/reference.js';
import { makeQuantizationArgs } from '../../src/quantization/args.js';
import { referenceQuantize } from '../../src/quantization/reference.js';
import { LayerReference, toWeightMap } from './layerReference.js';

const hardware = useHardware();

function config(layers: number): LlamaConfig {
  return parseLlamaConfig({ ...SMALL_CONFIGS.llama, num_hidden_layers: layers }, 'tiny llama');
}

function samples(c: LlamaConfig, seed: number, n: number, T: number): Int32Array[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Int32Array.from({ length: T }, () => Math.floor(r() * c.vocabSize)));
}

function model(hw: Hardware, c: LlamaConfig, weights: Map<string, Float32Array>): CausalLM {
  return causalLMFromHostWeights(hw, c, (spec) => weights.get(spec.name)!);
}

async function weightOf(m: CausalLM, name: string): Promise<Float32Array> {
  const [mod, local] = [name.slice(0, name.lastIndexOf('.')), name.slice(name.lastIndexOf('.') + 1)];
  return (await (await m.root.getModule(mod)!.getParameter(local)!.get()).readF32()).slice();
}

type Mapping = { balance: string[]; smooth: string };
const mappingsOf = (l: number): Mapping[] => [
  { balance: ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'].map((n) => `model.layers.${l}.${n}`), smooth: `model.layers.${l}.input_layernorm` },
  { balance: ['mlp.gate_proj', 'mlp.up_proj'].map((n) => `model.layers.${l}.${n}`), smooth: `model.layers.${l}.post_attention_layernorm` },
];

/**
 * Float64 SmoothQuant of every layer: ranges of the smooth layers' outputs
 * over `ids` (the original model; smoothing preserves the function, so the
 * sequential pipeline's propagated inputs are the same up to rounding), then
 * scales and smoothed weights. Returns the new weights by name.
 */
function referenceSmoothQuant(c: LlamaConfig, weights: Map<string, Float32Array>, ids: Int32Array[], alpha: number, algorithm: 'smoothquant' | 'log_equalization', skip = new Set<string>()): Map<string, Float64Array> {
  const ref = new LayerReference(c, toWeightMap(weights));
  const H = c.hiddenSize;
  const ranges = new Map<string, { min: Float64Array; max: Float64Array }>();
  const note = (name: string, y: Float64Array) => {
    const r = ranges.get(name) ?? { min: new Float64Array(H).fill(Infinity), max: new Float64Array(H).fill(-Infinity) };
    for (let i = 0; i < y.length; i++) {
      r.min[i % H] = Math.min(r.min[i % H], y[i]);
      r.max[i % H] = Math.max(r.max[i % H], y[i]);
    }
    ranges.set(name, r);
  };
  for (const s of ids) {
    let h = ref.embed(s);
    for (let l = 0; l < c.numHiddenLayers; l++) {
      const t = ref.layer(l, h, s.length);
      note(`model.layers.${l}.input_layernorm`, t.x);
      note(`model.layers.${l}.post_attention_layernorm`, t.x2);
      h = t.out;
    }
  }
  const out = new Map<string, Float64Array>();
  for (let l = 0; l < c.numHiddenLayers; l++) {
    for (const m of mappingsOf(l)) {
      if (skip.has(m.smooth)) continue;
      const r = ranges.get(m.smooth)!;
      const wmax = new Float64Array(H);
      for (const b of m.balance) {
        const w = ref.w(`${b}.weight`);
        for (let i = 0; i < w.length; i++) wmax[i % H] = Math.max(wmax[i % H], Math.abs(w[i]));
      }
      const s = referenceSmoothQuantScales(r.min, r.max, wmax, alpha, algorithm);
      for (const b of m.balance) {
        const w = ref.w(`${b}.weight`);
        out.set(`${b}.weight`, referenceScaleColumns(w, w.length / H, H, s));
      }
      out.set(`${m.smooth}.weight`, referenceDivideRows(ref.w(`${m.smooth}.weight`), H, 1, s));
    }
  }
  return out;
}

describe('SmoothQuantModifier (float64 reference, sequential pipeline)', () => {
  it('smooths every layer as the reference does (inferred Llama mappings, α = 0.8) and keeps the model’s function', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const c = config(2);
    const weights = randomWeights(c, seed);
    const ids = samples(c, seed + 1, 3, 12);
    const want = referenceSmoothQuant(c, weights, ids, 0.8, 'smoothquant');
    await inErrorScope(hw, async () => {
      const before = model(hw, c, weights);
      const probe = samples(c, seed + 2, 1, 10)[0];
      const logitsBefore = await (await before.logits(await runAll(before, probe))).readF32();
      const m = model(hw, c, weights);
      const result = await oneshot({ model: m, hardware: hw, recipe: { SmoothQuantModifier: { smoothing_strength: 0.8 } }, dataset: { samples: ids }, numCalibrationSamples: ids.length, loggers: LoggerManager.silent() });
      expect(result.pipeline).toBe('sequential');
      const sq = result.recipe.modifiers[0] as SmoothQuantModifier;
      // Mapping by mapping, each over the layers (match_modules_set order).
      expect(sq.resolvedMappings.map((r) => r.smoothName)).toEqual([
        'model.layers.0.input_layernorm', 'model.layers.1.input_layernorm', 'model.layers.0.post_attention_layernorm', 'model.layers.1.post_attention_layernorm',
      ]);
      for (const [name, w] of want) expectClose(await weightOf(m, name), w, { atol: 1e-7, rtol: 2e-5 }, `seed ${seed} ${name}`);
      // o_proj and down_proj are not balance layers: untouched.
      expect(await weightOf(m, 'model.layers.1.self_attn.o_proj.weight')).toEqual(weights.get('model.layers.1.self_attn.o_proj.weight'));
      const logitsAfter = await (await m.logits(await runAll(m, probe))).readF32();
      expect(relMaxError(logitsAfter, logitsBefore), `seed ${seed}: smoothing changed the function`).toBeLessThan(1e-4);
    });
  });

  it('log equalization; a mapping is skipped only when all its layers are ignored', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const c = config(1);
    const weights = randomWeights(c, seed);
    const ids = samples(c, seed + 1, 2, 10);
    const want = referenceSmoothQuant(c, weights, ids, 0.5, 'log_equalization', new Set(['model.layers.0.input_layernorm']));
    await inErrorScope(hw, async () => {
      const m = model(hw, c, weights);
      const ignore = ['model.layers.0.input_layernorm', 're:.*q_proj', 're:.*k_proj', 're:.*v_proj', 're:.*gate_proj'];
      const run = await oneshot({ model: m, hardware: hw, recipe: { SmoothQuantModifier: { algorithm: 'log_equalization', ignore } }, dataset: { samples: ids }, numCalibrationSamples: 2, loggers: LoggerManager.silent() });
      expect((run.recipe.modifiers[0] as SmoothQuantModifier).resolvedMappings.map((r) => r.smoothName)).toEqual(['model.layers.0.post_attention_layernorm']);
      // Fully ignored: untouched. Partly ignored (gate_proj): smoothed whole, gate_proj included.
      expect(await weightOf(m, 'model.layers.0.input_layernorm.weight')).toEqual(weights.get('model.layers.0.input_layernorm.weight'));
      expect(await weightOf(m, 'model.layers.0.self_attn.q_proj.weight')).toEqual(weights.get('model.layers.0.self_attn.q_proj.weight'));
      for (const [name, w] of want) expectClose(await weightOf(m, name), w, { atol: 1e-7, rtol: 2e-5 }, `seed ${seed} ${name}`);
    });
  });

  it('SmoothQuant + QuantizationModifier W8A8 from a YAML recipe: smoothed, then int8 channel-wise weights', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const c = config(1);
    const weights = randomWeights(c, seed);
    const ids = samples(c, seed + 1, 3, 12);
    const smoothed = referenceSmoothQuant(c, weights, ids, 0.5, 'smoothquant');
    const recipe = [
      'quant_stage:',
      '  quant_modifiers:',
      '    SmoothQuantModifier:',
      '      smoothing_strength: 0.5',
      '      mappings:',
      '        - [["re:.*q_proj", "re:.*k_proj", "re:.*v_proj"], "re:.*input_layernorm"]',
      '        - [["re:.*gate_proj", "re:.*up_proj"], "re:.*post_attention_layernorm"]',
      '    QuantizationModifier:',
      '      targets: [Linear]',
      '      ignore: [lm_head]',
      '      scheme: W8A8',
    ].join('\n');
    const w8 = makeQuantizationArgs({ numBits: 8, type: 'int', strategy: 'channel', symmetric: true });
    await inErrorScope(hw, async () => {
      const m = model(hw, c, weights);
      await oneshot({ model: m, hardware: hw, recipe, dataset: { samples: ids }, numCalibrationSamples: 3, loggers: LoggerManager.silent() });
      for (const n of ['input_layernorm', 'post_attention_layernorm']) {
        const name = `model.layers.0.${n}.weight`;
        expectClose(await weightOf(m, name), smoothed.get(name)!, { atol: 1e-7, rtol: 2e-5 }, `seed ${seed} ${name}`);
      }
      for (const n of ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj']) {
        const name = `model.layers.0.${n}.weight`;
        const dense = smoothed.get(name) ?? Float64Array.from(weights.get(name)!);
        const cols = name.includes('down_proj') ? c.intermediateSize : c.hiddenSize;
        const rows = dense.length / cols;
        const want = referenceQuantize(Float32Array.from(dense), rows, cols, w8);
        const mod = m.root.getModule(name.replace(/\.weight$/, ''))!;
        const codes = new Int8Array((await (await mod.getParameter('weight_codes')!.get()).readBytes()).buffer);
        const scales = await (await mod.getParameter('weight_scale')!.get()).readF32();
        expectClose(scales, want.scales, { atol: 0, rtol: 2e-5 }, `seed ${seed} ${name} scales`);
        // A code may differ only where the f32 smoothing put a value on a rounding boundary: rare, by one.
        let flips = 0;
        for (let i = 0; i < codes.length; i++) {
          if (codes[i] === want.codes[i]) continue;
          flips++;
          expect(Math.abs(codes[i] - want.codes[i]), `seed ${seed} ${name} code ${i}`).toBe(1);
        }
        expect(flips, `seed ${seed} ${name}: code flips`).toBeLessThanOrEqual(Math.max(1, codes.length * 1e-3));
        // The weight the model now computes with is the dequantized one.
        const got = await weightOf(m, name);
        const bad = got.findIndex((v, i) => v !== Math.fround(codes[i] * scales[Math.floor(i / cols)]));
        expect(bad, `seed ${seed} ${name}: first weight that is not code × scale`).toBe(-1);
        expect(m.root.getModule(name.replace(/\.weight$/, ''))!.getParameter('weight_scale')).toBeDefined();
      }
    });
  });

  it('explicit mappings by module name smooth only the named layers', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const c = config(2);
    const weights = randomWeights(c, seed);
    const ids = samples(c, seed + 1, 2, 10);
    const skip = new Set(['model.layers.0.post_attention_layernorm', 'model.layers.1.input_layernorm', 'model.layers.1.post_attention_layernorm']);
    const want = referenceSmoothQuant(c, weights, ids, 0.5, 'smoothquant', skip);
    await inErrorScope(hw, async () => {
      const m = model(hw, c, weights);
      const mappings = [[['q_proj', 'k_proj', 'v_proj'].map((n) => `model.layers.0.self_attn.${n}`), 'model.layers.0.input_layernorm']];
      const run = await oneshot({ model: m, hardware: hw, recipe: { SmoothQuantModifier: { mappings } }, dataset: { samples: ids }, numCalibrationSamples: 2, loggers: LoggerManager.silent() });
      expect((run.recipe.modifiers[0] as SmoothQuantModifier).resolvedMappings.map((r) => r.smoothName)).toEqual(['model.layers.0.input_layernorm']);
      expect([...want.keys()].sort()).toEqual(['model.layers.0.input_layernorm.weight', ...['k_proj', 'q_proj', 'v_proj'].map((n) => `model.layers.0.self_attn.${n}.weight`)]);
      for (const [name, w] of want) expectClose(await weightOf(m, name), w, { atol: 1e-7, rtol: 2e-5 }, `seed ${seed} ${name}`);
      for (const name of ['model.layers.0.post_attention_layernorm.weight', 'model.layers.1.input_layernorm.weight', 'model.layers.1.self_attn.q_proj.weight']) {
        expect(await weightOf(m, name), name).toEqual(weights.get(name));
      }
    });
  });

  it('SmoothQuant + GPTQModifier W8A8: smoothed norms, then GPTQ-quantized weights', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const c = config(1);
    const weights = randomWeights(c, seed);
    const ids = samples(c, seed + 1, 3, 12);
    const smoothed = referenceSmoothQuant(c, weights, ids, 0.8, 'smoothquant');
    await inErrorScope(hw, async () => {
      const m = model(hw, c, weights);
      const recipe = { SmoothQuantModifier: { smoothing_strength: 0.8 }, GPTQModifier: { targets: ['Linear'], ignore: ['lm_head'], scheme: 'W8A8' } };
      await oneshot({ model: m, hardware: hw, recipe, dataset: { samples: ids }, numCalibrationSamples: 3, loggers: LoggerManager.silent() });
      for (const n of ['input_layernorm', 'post_attention_layernorm']) {
        const name = `model.layers.0.${n}.weight`;
        expectClose(await weightOf(m, name), smoothed.get(name)!, { atol: 1e-7, rtol: 2e-5 }, `seed ${seed} ${name}`);
      }
      for (const n of ['self_attn.q_proj', 'mlp.up_proj', 'mlp.down_proj']) expect(m.root.getModule(`model.layers.0.${n}`)!.getParameter('weight_scale'), n).toBeDefined();
    });
  });

  it('errors: two smooth layers in one set, no calibration data', async () => {
    const hw = await hardware();
    const c = config(1);
    const weights = randomWeights(c, 5);
    await inErrorScope(hw, async () => {
      const bad = oneshot({
        model: model(hw, c, weights), hardware: hw, dataset: { samples: samples(c, 1, 1, 4) }, loggers: LoggerManager.silent(),
        recipe: { SmoothQuantModifier: { mappings: [[['re:.*q_proj'], 're:.*layernorm']] } },
      });
      await expect(bad).rejects.toThrow('SmoothQuantModifier.mappings: error resolving mappings for LlamaForCausalLM: SmoothQuant must match a single smooth layer for each mapping but got [model.layers.0.input_layernorm, model.layers.0.post_attention_layernorm]');
      const session = new CompressionSession();
      await expect(session.initialize({ recipe: [new SmoothQuantModifier()], model: model(hw, c, weights), hardware: hw, loggers: LoggerManager.silent() })).rejects.toThrow(
        'SmoothQuantModifier: SmoothQuantModifier requires a calibration dataset to be provided',
      );
    });
  });
});

/** Hidden states after every layer of one sequence (no hooks registered). */
async function runAll(m: CausalLM, ids: Int32Array) {
  const shape = { batch: 1, seqLen: ids.length };
  let h = await m.embed(ids, shape);
  for (let i = 0; i < m.numLayers; i++) {
    const next = await m.layerForward(i, h, shape);
    h.dispose();
    h = next;
  }
  return h;
}
