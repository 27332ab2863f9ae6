/**
 * Static activation calibration (issue 6 item 7): the GPU observers against a
 * float64 model of llm-compressor's observers over several random batches,
 * and FP8 / static int8 / NVFP4 schemes through `oneshot` and the sequential
 * pipeline on a small random Llama, whose `input_scale` etc. must equal
 * compressed-tensors' formula applied to the inputs each module really saw
 * (recorded by a test hook; the pipeline turns hooks off for propagation).
 */
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';
import type { Hardware } from '../../src/gpu/hardware.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { causalLMFromHostWeights } from '../../src/models/load.js';
import type { CausalLM } from '../../src/models/causalLM.js';
import type { LlamaConfig } from '../../src/models/llama/config.js';
import type { Module } from '../../src/core/model.js';
import { oneshot } from '../../src/oneshot.js';
import { LoggerManager } from '../../src/loggers/manager.js';
import { SMALL_CONFIGS, smallConfig, randomWeights } from '../models/synthetic.js';
import { saveQuantizedModel } from '../../src/quantization/save.js';
import { CompressedCheckpoint } from '../../src/io/compressed/reader.js';
import { openNodeFolder } from '../../src/io/node/index.js';
import { ActivationStatistics, activationQParams, type ActivationObserverSpec } from '../../src/quantization/activationObserver.js';
import { makeQuantizationArgs } from '../../src/quantization/args.js';
import { inputQuantizationOf } from '../../src/quantization/inputQuantization.js';
import { QuantizationModifier } from '../../src/modifiers/quantization/base.js';

const hardware = useHardware();
const work = mkdtempSync(join(tmpdir(), 'wgc-static-act-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Float64 model of the observers, every torch f32 op rounded once (llm-compressor observers/min_max.py, moving_base.py). */
function referenceRange(batches: readonly Float32Array[], spec: ActivationObserverSpec): { min: number; max: number } {
  let min = NaN;
  let max = NaN;
  batches.forEach((x, i) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of x) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    if (i === 0 || spec.kind === 'memoryless_minmax' || (spec.kind === 'minmax' && spec.averagingConstant === 1)) {
      min = lo;
      max = hi;
    } else if (spec.kind === 'static_minmax') {
      min = Math.min(min, lo);
      max = Math.max(max, hi);
    } else {
      const c = Math.fround(spec.averagingConstant);
      const k = Math.fround(1 - spec.averagingConstant);
      min = Math.fround(Math.fround(min * k) + Math.fround(lo * c));
      max = Math.fround(Math.fround(max * k) + Math.fround(hi * c));
    }
  });
  return { min, max };
}

function model(hw: Hardware, seed: number): { model: CausalLM; config: LlamaConfig } {
  const config = smallConfig('llama');
  const weights = randomWeights(config, seed);
  const rawConfig = { ...SMALL_CONFIGS.llama, torch_dtype: 'float32', model_type: 'llama' };
  return { model: causalLMFromHostWeights(hw, config, (spec) => weights.get(spec.name)!, { rawConfig }), config };
}

function samples(config: LlamaConfig, seed: number, count = 5, length = 20): Int32Array[] {
  const r = rng(seed);
  return Array.from({ length: count }, () => Int32Array.from({ length }, () => Math.floor(r() * config.vocabSize)));
}

/** Records every calibration input (or output) of the model's Linears (lm_head excluded). */
function recordInputs(m: CausalLM, side: 'input' | 'output' = 'input'): Map<string, Float32Array[]> {
  const out = new Map<string, Float32Array[]>();
  for (const mod of m.root.modules()) {
    if (!mod.isA('Linear') || mod.name === 'lm_head') continue;
    const list: Float32Array[] = [];
    out.set(mod.name, list);
    mod.registerHook('forward', async (call) => {
      list.push(await (side === 'input' ? call.inputs[0] : call.output!).readF32());
    });
  }
  return out;
}

/** Saves through oneshot's save step and opens the checkpoint. */
function saver(dir: string) {
  return async (mm: Parameters<typeof saveQuantizedModel>[0], d: string, ctx: Parameters<typeof saveQuantizedModel>[2]) => {
    await saveQuantizedModel(mm, d, ctx);
  };
}

async function scalar(m: Module, name: string): Promise<number | undefined> {
  const p = m.getParameter(name);
  if (!p) return undefined;
  const t = await p.get();
  return t.dtype === 'i32' ? new Int32Array((await t.readBytes()).buffer)[0] : (await t.readF32())[0];
}

const quiet = () => LoggerManager.silent();

describe('activation observers on the GPU', () => {
  it('memoryless_minmax, static_minmax and minmax (c = 0.01, 0.3, 1) over random batches match the float64 model', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const r = rng(seed);
    // Batches of different lengths and offsets, so the running state really moves.
    const shapes: [number, number][] = [[7, 64], [13, 64], [3, 64], [20, 64], [9, 64]];
    const batches = shapes.map(([t, n], i) => {
      const x = randn(t * n, seed + 31 * i, 0.5 + 2 * r());
      const shift = (r() - 0.5) * 3;
      return x.map((v) => Math.fround(v + shift));
    });
    const specs: ActivationObserverSpec[] = [
      { kind: 'memoryless_minmax', averagingConstant: 0.01 },
      { kind: 'static_minmax', averagingConstant: 0.01 },
      { kind: 'minmax', averagingConstant: 0.01 },
      { kind: 'minmax', averagingConstant: 0.3 },
      { kind: 'minmax', averagingConstant: 1 },
    ];
    await inErrorScope(hw, async () => {
      const stats = new ActivationStatistics<number>(hw);
      const tensors = batches.map((b, i) => Tensor.fromData(hw, b, shapes[i], 'f32'));
      for (const t of tensors) specs.forEach((s, k) => stats.observe(k, t, s));
      for (let k = 0; k < specs.length; k++) {
        const got = (await stats.range(k))!;
        const want = referenceRange(batches, specs[k]);
        expect(got.samples).toBe(batches.length);
        if (specs[k].kind === 'minmax' && specs[k].averagingConstant < 1) {
          // f32 lerp; a GPU may contract a product and the sum into one fma: ≤ 2 ulp per step.
          expect(Math.abs(got.min - want.min), `seed ${seed} ${JSON.stringify(specs[k])} min`).toBeLessThanOrEqual(1e-6 * Math.abs(want.min));
          expect(Math.abs(got.max - want.max), `seed ${seed} ${JSON.stringify(specs[k])} max`).toBeLessThanOrEqual(1e-6 * Math.abs(want.max));
        } else {
          expect(got.min, `seed ${seed} ${specs[k].kind}`).toBe(want.min);
          expect(got.max, `seed ${seed} ${specs[k].kind}`).toBe(want.max);
        }
      }
      for (const t of tensors) t.dispose();
      stats.dispose();
    });
  });

  it('qparams follow compressed-tensors: FP8 amax/448, int8 asymmetric scale and zero point, NVFP4 global scale', () => {
    const fp8 = makeQuantizationArgs({ numBits: 8, type: 'float', strategy: 'tensor', dynamic: false });
    expect(activationQParams(fp8, { min: -3.5, max: 2 }, 'f32', 'x')).toEqual({ scale: Math.fround(3.5 / 448), zeroPoint: null, globalScale: null });
    // Positive-only ranges include 0 (min' = min(min, 0)).
    expect(activationQParams(fp8, { min: 0.5, max: 2 }, 'f32', 'x').scale).toBe(Math.fround(2 / 448));
    const int8 = makeQuantizationArgs({ numBits: 8, type: 'int', symmetric: false, strategy: 'tensor', dynamic: false });
    const q = activationQParams(int8, { min: -1, max: 3 }, 'f32', 'x');
    expect(q.scale).toBe(Math.fround(4 / 255));
    expect(q.zeroPoint).toBe(Math.round(-128 - -1 / Math.fround(4 / 255)));
    const nvfp4 = makeQuantizationArgs({ numBits: 4, type: 'float', strategy: 'tensor_group', groupSize: 16, dynamic: 'local', scaleDtype: 'float8_e4m3fn' });
    const g = activationQParams(nvfp4, { min: -5, max: 4 }, 'f32', 'x');
    expect(g.globalScale).toBe(Math.fround(Math.fround(1 / 5) * 2688));
    expect(() => activationQParams(fp8, { min: NaN, max: 1 }, 'f32', 'model.layers.0.mlp.up_proj input')).toThrow(/model\.layers\.0\.mlp\.up_proj input.*NaN/);
  });
});

describe('static activation schemes through oneshot (sequential pipeline)', () => {
  it('FP8 (QuantizationModifier): input_scale of every Linear = static_minmax over its calibration inputs / 448; input quantization set', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const { model: m, config } = model(hw, seed);
    const inputs = recordInputs(m);
    await inErrorScope(hw, async () => {
      const dir = join(work, 'fp8');
      const result = await oneshot({
        model: m, hardware: hw, loggers: quiet(), dataset: { samples: samples(config, seed) }, recipe: { QuantizationModifier: { scheme: 'FP8', ignore: ['lm_head'] } },
        outputDir: dir, save: saver(dir),
      });
      expect(result.pipeline).toBe('sequential');
      const ckpt = await CompressedCheckpoint.open(await openNodeFolder(dir));
      expect(ckpt.problems).toEqual([]);
      expect(ckpt.modules.size).toBe(inputs.size);
      for (const [name, mod] of ckpt.modules) {
        expect([...mod.tensors.keys()].sort(), name).toEqual(['input_scale', 'weight', 'weight_scale']);
        expect((await ckpt.weights.readF32(`${name}.input_scale`))[0], name).toBe(await scalar(m.root.getModule(name)!, 'input_scale'));
      }
      await ckpt.weights.close();
      for (const [name, xs] of inputs) {
        expect(xs.length, name).toBe(5);
        const ref = referenceRange(xs, { kind: 'static_minmax', averagingConstant: 0.01 });
        const mod = m.root.getModule(name)!;
        const amax = Math.max(-Math.min(ref.min, 0), Math.max(ref.max, 0));
        expect(await scalar(mod, 'input_scale'), `seed ${seed} ${name}`).toBe(Math.fround(amax / 448));
        expect(mod.getParameter('input_zero_point')).toBeUndefined();
        expect(inputQuantizationOf(mod)?.args.dynamic, name).toBe(false);
      }
    });
  });

  it('GPTQ with FP8 static activations works (issue 7) and observes the inputs before quantizing the layer', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const { model: m, config } = model(hw, seed);
    const inputs = recordInputs(m);
    await inErrorScope(hw, async () => {
      await oneshot({ model: m, hardware: hw, loggers: quiet(), dataset: { samples: samples(config, seed) }, recipe: { GPTQModifier: { scheme: 'FP8', ignore: ['lm_head'] } } });
      for (const [name, xs] of inputs) {
        const mod = m.root.getModule(name)!;
        const ref = referenceRange(xs, { kind: 'static_minmax', averagingConstant: 0.01 });
        const amax = Math.max(-Math.min(ref.min, 0), Math.max(ref.max, 0));
        expect(await scalar(mod, 'input_scale'), `seed ${seed} ${name}`).toBe(Math.fround(amax / 448));
        expect(mod.getParameter('weight_scale')?.shape).toEqual([1]);
        expect(inputQuantizationOf(mod)).toBeDefined();
      }
    });
  });

  it('static int8 asymmetric inputs with the minmax (EMA) observer; NVFP4 input global scales shared by q/k/v', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const { model: m, config } = model(hw, seed);
    const inputs = recordInputs(m);
    const outputs = recordInputs(m, 'output');
    const dir = join(work, 'int8-asym');
    await inErrorScope(hw, async () => {
      await oneshot({
        model: m, hardware: hw, loggers: quiet(), dataset: { samples: samples(config, seed) }, outputDir: dir, save: saver(dir),
        recipe: {
          QuantizationModifier: {
            ignore: ['lm_head'],
            config_groups: {
              attn: {
                targets: ['re:.*self_attn\\..*_proj$'],
                weights: { num_bits: 8, type: 'int', symmetric: true, strategy: 'channel' },
                input_activations: { num_bits: 8, type: 'int', symmetric: false, strategy: 'tensor', dynamic: false, observer: 'minmax' },
                output_activations: { num_bits: 8, type: 'float', strategy: 'tensor', dynamic: false, observer: 'static_minmax' },
              },
            },
          },
        },
      });
      const args = makeQuantizationArgs({ numBits: 8, type: 'int', symmetric: false, strategy: 'tensor', dynamic: false, observer: 'minmax' });
      for (const [name, xs] of inputs) {
        const mod = m.root.getModule(name)!;
        if (!name.includes('self_attn')) {
          expect(mod.getParameter('input_scale'), name).toBeUndefined();
          continue;
        }
        const ref = activationQParams(args, referenceRange(xs, { kind: 'minmax', averagingConstant: 0.01 }), 'f32', name);
        const got = await scalar(mod, 'input_scale');
        expect(Math.abs(got! - ref.scale!), `seed ${seed} ${name}`).toBeLessThanOrEqual(2e-6 * ref.scale!);
        expect(Math.abs((await scalar(mod, 'input_zero_point'))! - ref.zeroPoint!), name).toBeLessThanOrEqual(1);
        const out = referenceRange(outputs.get(name)!, { kind: 'static_minmax', averagingConstant: 0.01 });
        const amax = Math.max(-Math.min(out.min, 0), Math.max(out.max, 0));
        expect(await scalar(mod, 'output_scale'), `seed ${seed} ${name} output`).toBe(Math.fround(amax / 448));
      }
      const ckpt = await CompressedCheckpoint.open(await openNodeFolder(dir));
      expect(ckpt.problems).toEqual([]);
      const keys = [...ckpt.modules.get('model.layers.0.self_attn.o_proj')!.tensors.keys()].sort();
      expect(keys).toEqual(['input_scale', 'input_zero_point', 'output_scale', 'weight', 'weight_scale']);
      expect(ckpt.modules.has('model.layers.0.mlp.up_proj')).toBe(false);
      await ckpt.weights.close();
    });

    const { model: m2 } = model(hw, seed + 1);
    const inputs2 = recordInputs(m2);
    await inErrorScope(hw, async () => {
      const dir2 = join(work, 'nvfp4');
      await oneshot({
        model: m2, hardware: hw, loggers: quiet(), dataset: { samples: samples(config, seed + 1, 3) }, recipe: { QuantizationModifier: { scheme: 'NVFP4', ignore: ['lm_head'] } },
        outputDir: dir2, save: saver(dir2),
      });
      // The writer checks that q/k/v and gate/up share their global scales (vLLM fuses them).
      const ckpt2 = await CompressedCheckpoint.open(await openNodeFolder(dir2));
      expect([...ckpt2.modules.get('model.layers.1.mlp.gate_proj')!.tensors.keys()].sort()).toEqual(['input_global_scale', 'weight_global_scale', 'weight_packed', 'weight_scale']);
      await ckpt2.weights.close();
      const args = makeQuantizationArgs({ numBits: 4, type: 'float', strategy: 'tensor_group', groupSize: 16, dynamic: 'local', scaleDtype: 'float8_e4m3fn' });
      for (const [name, xs] of inputs2) {
        const mod = m2.root.getModule(name)!;
        const ref = activationQParams(args, referenceRange(xs, { kind: 'static_minmax', averagingConstant: 0.01 }), 'f32', name);
        expect(await scalar(mod, 'input_global_scale'), `seed ${seed + 1} ${name}`).toBe(ref.globalScale);
        expect(mod.getParameter('input_scale')).toBeUndefined();
      }
      const attn = m2.root.getModule('model.layers.1.self_attn')!;
      const q = await scalar(attn.children.get('q_proj')!, 'input_global_scale');
      expect(await scalar(attn.children.get('k_proj')!, 'input_global_scale')).toBe(q);
      expect(await scalar(attn.children.get('v_proj')!, 'input_global_scale')).toBe(q);
    });
  });

  it('clear errors: per-channel static inputs, an mse activation observer, and static scales without calibration data', async () => {
    const hw = await hardware();
    const seed = 11;
    const run = async (recipe: Record<string, unknown>, pipeline?: string) => {
      const { model: m, config } = model(hw, seed);
      await oneshot({ model: m, hardware: hw, loggers: quiet(), dataset: { samples: samples(config, seed, 2, 8) }, pipeline, recipe });
    };
    const group = (input: Record<string, unknown>) => ({
      QuantizationModifier: { ignore: ['lm_head'], config_groups: { g: { targets: ['Linear'], weights: { num_bits: 8, strategy: 'channel' }, input_activations: input } } },
    });
    await expect(run(group({ num_bits: 8, strategy: 'group', group_size: 16, dynamic: false }))).rejects.toThrow(/config_groups\.g\.input_activations: static activation scales are calibrated per tensor only/);
    await expect(run(group({ num_bits: 8, strategy: 'tensor', dynamic: false, observer: 'mse' }))).rejects.toThrow(/config_groups\.g\.input_activations: the "mse" observer is not available for activations/);
    await expect(run({ QuantizationModifier: { scheme: 'FP8', ignore: ['lm_head'] } }, 'datafree')).rejects.toThrow(/input_activations: no calibration inputs were observed.*dataset/);
    expect(new QuantizationModifier({ scheme: 'FP8' }).requiresCalibrationData).toBe(true);
    expect(new QuantizationModifier({ scheme: 'FP8_DYNAMIC' }).requiresCalibrationData).toBe(false);
  });
});
