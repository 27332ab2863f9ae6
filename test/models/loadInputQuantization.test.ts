import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed, rng } from '../helpers/random.js';
import { MemoryFolder } from '../../src/io/folder.js';
import { openModelFolder } from '../../src/io/model/folder.js';
import { writeCompressedCheckpoint, type QuantizedLayer } from '../../src/io/compressed/writer.js';
import type { TensorEntry } from '../../src/io/safetensors/writer.js';
import { openCausalLM, type ExecutionCaveat } from '../../src/models/load.js';
import { llamaWeightSpecs } from '../../src/models/llama/weights.js';
import { LlamaReference } from '../../src/models/reference/llama.js';
import { presetScheme } from '../../src/quantization/presets.js';
import { quantizationArgsToJson } from '../../src/quantization/args.js';
import { referenceQuantize } from '../../src/quantization/reference.js';
import { inputQuantizationOf, INPUT_PARAMETER_NAMES } from '../../src/quantization/inputQuantization.js';
import { SMALL_CONFIGS, smallConfig, randomWeights } from './synthetic.js';
import { relMaxError } from './helpers.js';
import { referenceFakeQuantizeInput, type ReferenceInputParams } from './actquantReference.js';

const hardware = useHardware();
const RAW_CONFIG = { ...SMALL_CONFIGS.llama, torch_dtype: 'float32' };
const config = smallConfig('llama');

/**
 * A checkpoint of the small random Llama written by our writer with the
 * preset's scheme on every decoder Linear (lm_head ignored), plus the
 * dequantized weights and each module's static input values.
 */
async function writeCheckpoint(preset: 'W8A8' | 'FP8', seed: number) {
  const weights = randomWeights(config, seed);
  const scheme = presetScheme(preset);
  const layers: QuantizedLayer[] = [];
  const dense: TensorEntry[] = [];
  const dequantized = new Map(weights);
  const statics = new Map<string, ReferenceInputParams>();
  const r = rng(seed + 3);
  for (const s of llamaWeightSpecs(config)) {
    const w = weights.get(s.name)!;
    if (s.kind !== 'linear' || !s.name.startsWith('model.layers.')) {
      dense.push({ name: s.name, dtype: 'F32', shape: s.shape, data: w });
      continue;
    }
    const [o, i] = s.shape;
    const q = referenceQuantize(w, o, i, scheme.weights!);
    dequantized.set(s.name, Float32Array.from(q.fake));
    const module = s.name.replace(/\.weight$/, '');
    const codes = scheme.weights!.type === 'int' ? Int8Array.from(q.codes) : Uint8Array.from(q.codes);
    let inputScale: Float32Array | undefined;
    if (preset === 'FP8') {
      // A calibrated-looking scale: activations of this model reach a few units.
      inputScale = Float32Array.of(Math.fround((1.5 + 3 * r()) / 448));
      statics.set(module, { scale: inputScale[0] });
    }
    layers.push({ module, group: 'group_0', shape: [o, i], weight: codes, weightScale: Float32Array.from(q.scales), inputScale });
  }
  const out = new MemoryFolder(`${preset.toLowerCase()}-checkpoint`);
  await writeCompressedCheckpoint(out, {
    config: RAW_CONFIG,
    quantization: {
      config_groups: {
        group_0: { targets: ['Linear'], weights: quantizationArgsToJson(scheme.weights!) as never, input_activations: quantizationArgsToJson(scheme.inputActivations!) as never },
      },
      ignore: ['lm_head'],
    },
    layers,
    dense,
  });
  return { out, dequantized, statics, scheme };
}

describe('loading a compressed checkpoint applies its input-activation quantization', () => {
  for (const preset of ['W8A8', 'FP8'] as const) {
    it(`${preset}: modules get the scheme's input quantization (and input_scale), the forward applies it`, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const { out, dequantized, statics, scheme } = await writeCheckpoint(preset, seed);
      const args = scheme.inputActivations!;
      await inErrorScope(hw, async () => {
        const caveats: ExecutionCaveat[] = [];
        const model = await openCausalLM(hw, await openModelFolder(out), caveats);
        expect(caveats).toEqual([]);
        const seen = new Map<string, Float32Array>();
        let count = 0;
        for (const m of model.root.modules()) {
          const q = inputQuantizationOf(m);
          if (!m.name.startsWith('model.layers.') || !m.isA('Linear')) {
            expect(q, m.name).toBeUndefined();
            continue;
          }
          count++;
          expect(q?.args.strategy, m.name).toBe(args.strategy);
          expect(q?.args.dynamic, m.name).toBe(args.dynamic);
          expect(q?.args.type, m.name).toBe(args.type);
          const p = m.getParameter(INPUT_PARAMETER_NAMES.scale);
          if (preset === 'FP8') {
            expect(p?.shape).toEqual([1]);
            expect((await (await p!.get()).readF32())[0], m.name).toBe(statics.get(m.name)!.scale);
          } else {
            expect(p, m.name).toBeUndefined();
          }
          m.registerHook('forward_pre', async (c) => {
            seen.set(m.name, await c.inputs[0].readF32());
          });
        }
        expect(count).toBe(7 * config.numHiddenLayers);

        const ids = Int32Array.from([3, 17, 99, 4, 60, 61, 2, 127, 0]);
        const shape = { batch: 1, seqLen: ids.length };
        let h = await model.embed(ids, shape);
        for (let i = 0; i < model.numLayers; i++) h = await model.layerForward(i, h, shape);
        const got = await (await model.logits(h)).readF32();
        // Reference on the dequantized weights, quantizing the GPU's own Linear inputs (see actquant.test.ts).
        const ref = (quantize: boolean) => new LlamaReference(config, (n) => dequantized.get(n)!, (module, _x, rows, cols) => {
          const x = seen.get(module);
          return x && quantize ? referenceFakeQuantizeInput(x, rows, cols, args, statics.get(module)) : undefined;
        });
        const want = ref(true).logits(ids);
        expect(relMaxError(got, want), `${preset} seed ${seed}`).toBeLessThan(1e-4);
        expect(relMaxError(ref(false).logits(ids), want), 'the activation quantization matters').toBeGreaterThan(1e-3);
        await model.dispose?.();
      });
    });
  }

  it('a static scheme whose checkpoint lacks input_scale is an error naming the file and tensor', async () => {
    const hw = await hardware();
    const { out } = await writeCheckpoint('W8A8', freshSeed());
    // Declare the (dynamic) checkpoint's input activations static: input_scale is now required and absent.
    const cfg = JSON.parse(new TextDecoder().decode(out.files.get('config.json')!));
    Object.assign(cfg.quantization_config.config_groups.group_0.input_activations, { strategy: 'tensor', dynamic: false, observer: 'minmax' });
    out.files.set('config.json', new TextEncoder().encode(JSON.stringify(cfg)));
    await expect(openCausalLM(hw, await openModelFolder(out))).rejects.toThrow(/w8a8-checkpoint\/model\.safetensors: tensor "model\.layers\.\d\.\w+\.\w+\.input_scale": missing; group_0 quantizes the input of model\.layers\.\d\.\w+\.\w+ statically/);
  });

  it('input schemes the forward cannot apply become caveats; output activations and kv_cache_scheme stay caveats', async () => {
    const hw = await hardware();
    const { out } = await writeCheckpoint('W8A8', freshSeed());
    const cfg = JSON.parse(new TextDecoder().decode(out.files.get('config.json')!));
    const qc = cfg.quantization_config;
    Object.assign(qc.config_groups.group_0.input_activations, { strategy: 'attn_head', dynamic: false, observer: 'minmax' });
    qc.kv_cache_scheme = { num_bits: 8, type: 'float', strategy: 'tensor', dynamic: false, symmetric: true, group_size: null, block_structure: null, actorder: null, observer: 'minmax', observer_kwargs: {} };
    out.files.set('config.json', new TextEncoder().encode(JSON.stringify(cfg)));
    const caveats: ExecutionCaveat[] = [];
    const model = await openCausalLM(hw, await openModelFolder(out), caveats);
    expect(caveats.map((c) => c.message).join('\n')).toMatch(/group_0 quantizes input activations in a way the forward cannot apply/);
    expect(caveats.map((c) => c.message).join('\n')).toMatch(/kv_cache_scheme is set/);
    expect(inputQuantizationOf(model.root.getModule('model.layers.0.mlp.up_proj')!)).toBeUndefined();
    await model.dispose?.();
  });
});
