import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { oneshot } from '../../src/oneshot.js';
import { loadCausalLMFromDir } from '../../src/models/node.js';
import { QuantizationModifier } from '../../src/modifiers/quantization/base.js';
import { saveQuantizedModel } from '../../src/quantization/save.js';
import { modelFreeQuantize } from '../../src/quantization/modelFree.js';
import { presetScheme } from '../../src/quantization/presets.js';
import { referenceQuantize } from '../../src/quantization/reference.js';
import { MemoryFolder } from '../../src/io/folder.js';
import { openModelDir, openNodeFolder, writeOutputFolder } from '../../src/io/node/index.js';
import { openSafetensorsFolder } from '../../src/io/safetensors/store.js';
import { CompressedCheckpoint } from '../../src/io/compressed/reader.js';
import { LoggerManager } from '../../src/loggers/manager.js';
import { DEMO_LLAMA, writeSyntheticLlama } from '../../src/quantization/syntheticLlama.js';

const hardware = useHardware();
const STORIES = resolve(__dirname, '../../..', 'shared', 'models', 'stories260K');
const haveStories = existsSync(join(STORIES, 'model.safetensors'));
if (!haveStories) console.warn(`skipping lifecycle tests on stories260K: ${STORIES} is absent`);
const work = mkdtempSync(join(tmpdir(), 'wgc-modifier-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const quiet = () => LoggerManager.silent();

describe('QuantizationModifier through oneshot (lifecycle, State, save step)', () => {
  it.skipIf(!haveStories)('W8A8 on stories260K: weights become Q(W), and the saved checkpoint equals the data-free streaming one', async () => {
    const hw = await hardware();
    const out = join(work, 'lifecycle-w8a8');
    await inErrorScope(hw, async () => {
      const model = await loadCausalLMFromDir(STORIES, hw);
      const recipe = [new QuantizationModifier({ scheme: 'W8A8', targets: ['Linear'] })];
      const result = await oneshot({ model, recipe, hardware: hw, outputDir: out, loggers: quiet(), save: (m, dir, ctx) => saveQuantizedModel(m, dir, ctx).then(() => undefined) });
      expect(result.pipeline).toBe('datafree');
      const mod = result.recipe.modifiers[0] as QuantizationModifier;
      expect(mod.quantizedModules.map((r) => r.module.name)).toHaveLength(35);
      expect(mod.quantizedModules.some((r) => r.module.name === 'lm_head')).toBe(false);
      // In State, the weight is now the fake-quantized weight.
      const src = await openModelDir(STORIES);
      const w = await src.weights.readF32('model.layers.2.mlp.up_proj.weight');
      const ref = referenceQuantize(w, 172, 64, presetScheme('W8A8').weights!);
      const inModel = await (await model.root.getModule('model.layers.2.mlp.up_proj')!.getParameter('weight')!.get()).readF32();
      for (let k = 0; k < inModel.length; k++) expect(inModel[k]).toBe(ref.fake[k]);

      // The streaming path on the same model writes the same compressed layers.
      const mem = new MemoryFolder('mf');
      await modelFreeQuantize(hw, mem, { weights: src.weights, config: src.config.raw, spec: { groups: { group_0: presetScheme('W8A8', ['Linear']) }, ignore: [] } });
      const a = await openSafetensorsFolder(await openNodeFolder(out));
      const b = await openSafetensorsFolder(mem);
      let compared = 0;
      for (const t of a.tensors) {
        if (!/weight(_scale)?$/.test(t.name) || t.dtype === 'F32' && !t.name.endsWith('_scale')) continue;
        expect(b.has(t.name), t.name).toBe(true);
        expect(await a.readTensor(t.name), t.name).toEqual(await b.readTensor(t.name));
        compared++;
      }
      expect(compared).toBe(70);
      const ckpt = await CompressedCheckpoint.open(await openNodeFolder(out));
      expect(ckpt.quantization?.config_groups.group_0.format).toBe('int-quantized');
      expect(ckpt.quantization?.ignore).toContain('lm_head');
      await Promise.all([a.close(), b.close(), ckpt.weights.close(), src.close()]);
      await model.dispose?.();
    });
  });

  it('lm_head is quantized only when a target names it; bad shapes fail at initialize; static activations without data fail at pipeline selection', async () => {
    const hw = await hardware();
    const dir = join(work, 'synthetic');
    await writeOutputFolder(dir, {}, (o) => writeSyntheticLlama(o, DEMO_LLAMA));
    await inErrorScope(hw, async () => {
      const run = async (m: QuantizationModifier) => {
        const model = await loadCausalLMFromDir(dir, hw);
        try {
          await oneshot({ model, recipe: [m], hardware: hw, loggers: quiet() });
          return m;
        } finally {
          await model.dispose?.();
        }
      };
      const named = await run(new QuantizationModifier({ scheme: 'W8A16', targets: ['Linear', 'lm_head'] }));
      expect(named.quantizedModules.some((r) => r.module.name === 'lm_head')).toBe(true);
      const classOnly = await run(new QuantizationModifier({ scheme: 'W8A16', targets: ['Linear'] }));
      expect(classOnly.quantizedModules.some((r) => r.module.name === 'lm_head')).toBe(false);
      expect(classOnly.quantizedModules).toHaveLength(28);
      const badGroups = new QuantizationModifier({ configGroups: { g: { targets: ['Linear'], weights: { numBits: 4, groupSize: 100, strategy: 'group' } } } });
      await expect(run(badGroups)).rejects.toThrow(/256 input columns are not a multiple of group_size 100/);
      expect(new QuantizationModifier({ scheme: 'FP8' }).requiresCalibrationData).toBe(true);
      await expect(run(new QuantizationModifier({ scheme: 'FP8' }))).rejects.toThrow(/calibration data/);
    });
  });
});
