/**
 * AWQModifier + QuantizationModifier through `oneshot` (sequential pipeline)
 * on tiny random Llamas.
 *
 * The float64 reference replays the whole transform of a decoder layer: the
 * parents' inputs (self_attn, o_proj, mlp, down_proj) from a float64 forward,
 * the grid search of each of the four default mappings in order
 * (src/modifiers/awq/reference.ts, from the statistics the GPU accumulated,
 * so the candidate scales are the same bits), the best scales applied to the
 * balance and smooth layers, then W4A16 round-to-nearest — and the modifier's
 * choices, losses, norms, codes and scales must match it. Also: grouped-query
 * attention skips v_proj → o_proj, a YAML recipe over two layers, the same
 * bits on every run and with inputs offloaded to host memory, and the errors.
 */
import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed, rng } from '../helpers/random.js';
import { expectClose } from '../models/helpers.js';
import { randomWeights, SMALL_CONFIGS } from '../models/synthetic.js';
import type { Hardware } from '../../src/gpu/hardware.js';
import type { CausalLM } from '../../src/models/causalLM.js';
import { causalLMFromHostWeights } from '../../src/models/load.js';
import { parseLlamaConfig, type LlamaConfig } from '../../src/models/llama/config.js';
import { linear } from '../../src/models/reference/llama.js';
import { oneshot } from '../../src/oneshot.js';
import { LoggerManager } from '../../src/loggers/manager.js';
import type { LogRecord } from '../../src/loggers/types.js';
import { State } from '../../src/core/state.js';
import { AWQModifier } from '../../src/modifiers/awq/base.js';
import { referenceAwqSearch, type ReferenceLayer } from '../../src/modifiers/awq/reference.js';
import { makeQuantizationArgs } from '../../src/quantization/args.js';
import { referenceQuantize } from '../../src/quantization/reference.js';
import { LayerReference, toWeightMap } from '../smoothquant/layerReference.js';

const hardware = useHardware();

function config(overrides: Record<string, unknown>): LlamaConfig {
  return parseLlamaConfig({ ...SMALL_CONFIGS.llama, hidden_size: 128, intermediate_size: 256, num_attention_heads: 4, ...overrides }, 'tiny llama');
}

function samples(c: LlamaConfig, seed: number, n: number, T: number): Int32Array[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Int32Array.from({ length: T }, () => Math.floor(r() * c.vocabSize)));
}

function model(hw: Hardware, c: LlamaConfig, weights: Map<string, Float32Array>): CausalLM {
  return causalLMFromHostWeights(hw, c, (spec) => weights.get(spec.name)!);
}

async function param(m: CausalLM, module: string, local = 'weight'): Promise<Float32Array> {
  return (await (await m.root.getModule(module)!.getParameter(local)!.get()).readF32()).slice();
}

const W4A16_RECIPE = (awq: Record<string, unknown> = {}) => ({
  AWQModifier: { n_grid: 10, ...awq },
  QuantizationModifier: { scheme: 'W4A16', targets: ['Linear'], ignore: ['lm_head'] },
});

const LINEARS = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'];

describe('AWQModifier (float64 reference of a whole layer, sequential pipeline)', () => {
  it('AWQ + W4A16 on one layer: every mapping’s choice, losses and scales, the smoothed norms and the int4 codes match the reference', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const c = config({ num_hidden_layers: 1, num_key_value_heads: 4 });
    const weights = randomWeights(c, seed);
    const ids = samples(c, seed + 1, 2, 16);
    const records: LogRecord[] = [];
    await inErrorScope(hw, async () => {
      const m = model(hw, c, weights);
      const run = await oneshot({ model: m, hardware: hw, recipe: W4A16_RECIPE(), dataset: { samples: ids }, numCalibrationSamples: 2, loggers: new LoggerManager([{ write: (r) => records.push(r) }]) });
      const awq = run.recipe.modifiers[0] as AWQModifier;
      const results = awq.mappingResults;
      const P = 'model.layers.0';
      expect(results.map((r) => [r.smoothName, r.parentName])).toEqual([
        [`${P}.input_layernorm`, `${P}.self_attn`],
        [`${P}.self_attn.v_proj`, `${P}.self_attn.o_proj`],
        [`${P}.post_attention_layernorm`, `${P}.mlp`],
        [`${P}.mlp.up_proj`, `${P}.mlp.down_proj`],
      ]);
      expect(records.filter((r) => r.type === 'layer' && r.modifier === 'AWQModifier').length).toBe(4);

      // The reference, mapping by mapping, on float64 activations of the original layer.
      const ref = new LayerReference(c, toWeightMap(weights));
      const T = 16;
      const traces = ids.map((s) => ref.layer(0, ref.embed(s), T));
      const cat = (f: (t: (typeof traces)[number]) => Float64Array) => {
        const parts = traces.map(f);
        const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) (out.set(p, at), (at += p.length));
        return out;
      };
      const current = new Map<string, Float32Array>([...weights].map(([k, v]) => [k, v.slice()]));
      const args = makeQuantizationArgs({ numBits: 4, type: 'int', symmetric: true, strategy: 'group', groupSize: 128, observer: 'memoryless_minmax' });
      const H = c.hiddenSize;
      const I = c.intermediateSize;
      const parents: ((w: readonly ArrayLike<number>[]) => Float64Array)[] = [
        ([q, k, v]) => cat((t) => ref.attention(0, t.x, T, { q_proj: q, k_proj: k, v_proj: v }).o),
        ([o]) => cat((t) => linear(t.a, T, H, Float64Array.from(o), H)),
        ([g, u]) => cat((t) => ref.mlp(0, t.x2, T, { gate_proj: g, up_proj: u }).d),
        ([d]) => cat((t) => linear(t.m, T, I, Float64Array.from(d), H)),
      ];
      const balanceOf = [['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'], ['self_attn.o_proj'], ['mlp.gate_proj', 'mlp.up_proj'], ['mlp.down_proj']];
      const smoothOf = ['input_layernorm', 'self_attn.v_proj', 'post_attention_layernorm', 'mlp.up_proj'];
      for (let i = 0; i < 4; i++) {
        const r = results[i];
        const ctx = `seed ${seed} ${r.smoothName}`;
        const st = r.statistics;
        const layers: ReferenceLayer[] = balanceOf[i].map((n) => {
          const w = current.get(`${P}.${n}.weight`)!;
          const cols = n === 'mlp.down_proj' ? I : H;
          return { w, rows: w.length / cols, cols, args };
        });
        const want = referenceAwqSearch({
          xMean: Float64Array.from(st.xSum, (v) => v / st.tokens), wMean: Float64Array.from(st.wSum!, (v) => v / st.wRows!),
          grid: r.grid, layers, parent: parents[i],
        });
        const sorted = [...want.losses].sort((a, b) => a - b);
        if ((sorted[1] - sorted[0]) / sorted[0] > 1e-3) expect(r.bestIndex, `${ctx}: chosen grid point`).toBe(want.bestIndex);
        else expect(want.losses[r.bestIndex], `${ctx}: near-tie`).toBeLessThanOrEqual(sorted[0] * (1 + 1e-3));
        expectClose(r.losses, want.losses, { atol: 0, rtol: 1e-3 }, `${ctx} losses`);
        const s = want.scales[r.bestIndex];
        expect([...r.scales], `${ctx} scales`).toEqual([...s]);
        // Apply as the modifier does: balance W·s in f32, smooth weight (rows) / s.
        for (const n of balanceOf[i]) {
          const w = current.get(`${P}.${n}.weight`)!;
          const cols = s.length;
          current.set(`${P}.${n}.weight`, Float32Array.from(w, (v, k) => v * s[k % cols]));
        }
        const sw = current.get(`${P}.${smoothOf[i]}.weight`)!;
        const rowLen = smoothOf[i].endsWith('layernorm') ? 1 : H;
        const firstRow = sw.length / rowLen - s.length;
        current.set(`${P}.${smoothOf[i]}.weight`, Float32Array.from(sw, (v, k) => (Math.floor(k / rowLen) >= firstRow ? v / s[Math.floor(k / rowLen) - firstRow] : v)));
      }
      for (const n of ['input_layernorm', 'post_attention_layernorm']) {
        expectClose(await param(m, `${P}.${n}`), current.get(`${P}.${n}.weight`)!, { atol: 0, rtol: 6e-7 }, `seed ${seed} ${n}`);
      }
      const w4 = makeQuantizationArgs({ numBits: 4, type: 'int', symmetric: true, strategy: 'group', groupSize: 128 });
      for (const n of LINEARS) {
        const w = current.get(`${P}.${n}.weight`)!;
        const cols = n === 'mlp.down_proj' ? I : H;
        const want = referenceQuantize(w, w.length / cols, cols, w4);
        const mod = m.root.getModule(`${P}.${n}`)!;
        const codes = new Int8Array((await (await mod.getParameter('weight_codes')!.get()).readBytes()).buffer);
        const scales = await param(m, `${P}.${n}`, 'weight_scale');
        expectClose(scales, want.scales, { atol: 0, rtol: 6e-7 }, `seed ${seed} ${n} scales`);
        let flips = 0;
        codes.forEach((q, k) => {
          if (q !== want.codes[k]) flips++;
        });
        // v_proj and up_proj were divided on the GPU (≤ 2.5 ulp): a code may flip where a value sits on a rounding boundary.
        expect(flips, `seed ${seed} ${n}: codes that differ`).toBeLessThanOrEqual(n.endsWith('v_proj') || n.endsWith('up_proj') ? Math.max(1, codes.length * 1e-3) : 0);
      }
    });
  });

  it('grouped-query attention: v_proj → o_proj is skipped for its shapes; same bits with inputs offloaded to host memory and on a second run', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const c = config({ num_hidden_layers: 1, num_key_value_heads: 2 });
    const weights = randomWeights(c, seed);
    const ids = samples(c, seed + 1, 3, 8);
    await inErrorScope(hw, async () => {
      const outs: Float32Array[][] = [];
      for (const offload of [null, 'cpu', null]) {
        const records: LogRecord[] = [];
        const m = model(hw, c, weights);
        const run = await oneshot({ model: m, hardware: hw, recipe: W4A16_RECIPE({ offload_device: offload }), dataset: { samples: ids }, numCalibrationSamples: 3, loggers: new LoggerManager([{ write: (r) => records.push(r) }]) });
        const awq = run.recipe.modifiers[0] as AWQModifier;
        expect(awq.mappingResults.map((r) => r.smoothName)).toEqual(['model.layers.0.input_layernorm', 'model.layers.0.post_attention_layernorm', 'model.layers.0.mlp.up_proj']);
        expect(records.some((r) => r.type === 'message' && r.level === 'warning' && r.message === '1 mappings were skipped due to incompatible shapes.')).toBe(true);
        const o: Float32Array[] = [];
        for (const n of [...LINEARS, 'input_layernorm', 'post_attention_layernorm']) o.push(await param(m, `model.layers.0.${n}`));
        outs.push(o);
      }
      expect(outs[1]).toEqual(outs[0]);
      expect(outs[2]).toEqual(outs[0]);
    });
  });

  it('a YAML recipe over two layers with the inferred mappings: every mapping smoothed, no worse than identity, all Linears quantized', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const c = config({ num_hidden_layers: 2, num_key_value_heads: 4 });
    const weights = randomWeights(c, seed);
    const ids = samples(c, seed + 1, 2, 12);
    const recipe = [
      'quant_stage:',
      '  quant_modifiers:',
      '    AWQModifier:',
      '      duo_scaling: both',
      '      n_grid: 8',
      '    QuantizationModifier:',
      '      targets: [Linear]',
      '      ignore: [lm_head]',
      '      scheme: W4A16',
    ].join('\n');
    await inErrorScope(hw, async () => {
      const m = model(hw, c, weights);
      const run = await oneshot({ model: m, hardware: hw, recipe, dataset: { samples: ids }, numCalibrationSamples: 2, loggers: LoggerManager.silent() });
      const awq = run.recipe.modifiers[0] as AWQModifier;
      expect(awq.mappingResults.length).toBe(8);
      expect(awq.mappings!.map((x) => x.smoothLayer)).toEqual(['re:.*input_layernorm$', 're:.*v_proj$', 're:.*post_attention_layernorm$', 're:.*up_proj$']);
      for (const r of awq.mappingResults) {
        expect(r.grid.length).toBe(8);
        expect(r.bestError).toBeLessThanOrEqual(r.losses[0]);
        expect(r.losses.every(Number.isFinite)).toBe(true);
      }
      for (let l = 0; l < 2; l++) for (const n of LINEARS) expect(m.root.getModule(`model.layers.${l}.${n}`)!.getParameter('weight_codes'), `${l} ${n}`).toBeDefined();
    });
  });

  it('AWQ + GPTQModifier W4A16: the search imitates GPTQ’s scheme; every mapping smoothed, GPTQ quantizes after', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const c = config({ num_hidden_layers: 1, num_key_value_heads: 4 });
    const weights = randomWeights(c, seed);
    const ids = samples(c, seed + 1, 2, 12);
    await inErrorScope(hw, async () => {
      const m = model(hw, c, weights);
      const recipe = { AWQModifier: { n_grid: 6 }, GPTQModifier: { targets: ['Linear'], ignore: ['lm_head'], scheme: 'W4A16' } };
      const run = await oneshot({ model: m, hardware: hw, recipe, dataset: { samples: ids }, numCalibrationSamples: 2, loggers: LoggerManager.silent() });
      const awq = run.recipe.modifiers[0] as AWQModifier;
      expect(awq.mappingResults.length).toBe(4);
      for (const n of LINEARS) expect(m.root.getModule(`model.layers.0.${n}`)!.getParameter('weight_scale'), n).toBeDefined();
    });
  });

  it('errors: duo scaling with a TENSOR weight strategy, a grid that divides by zero, no recipe around the modifier', async () => {
    const hw = await hardware();
    const c = config({ num_hidden_layers: 1 });
    const weights = randomWeights(c, 3);
    await inErrorScope(hw, async () => {
      const tensor = { AWQModifier: {}, QuantizationModifier: { config_groups: { g: { targets: ['Linear'], weights: { num_bits: 8, type: 'int', symmetric: true, strategy: 'tensor' } } }, ignore: ['lm_head'] } };
      await expect(oneshot({ model: model(hw, c, weights), hardware: hw, recipe: tensor, dataset: { samples: samples(c, 1, 1, 4) }, loggers: LoggerManager.silent() })).rejects.toThrow(
        'duo_scaling is only supported with per-channel quantization strategies (group or channel), but found TENSOR strategy on layer model.layers.0.self_attn.q_proj',
      );
      expect(() => new AWQModifier({ nGrid: 2 })).toThrow('AWQModifier.nGrid: n_grid = 2 with duo_scaling true divides by n_grid − 2 = 0');
      expect(() => new AWQModifier({ offloadDevice: 'disk' })).toThrow('AWQModifier.offloadDevice: expected "cpu"');
      const state = new State().update({ model: model(hw, c, weights), hardware: hw });
      await expect(new AWQModifier().initialize(state)).rejects.toThrow('AWQModifier takes its quantization scheme from the modifiers after it in the recipe');
    });
  });
});
