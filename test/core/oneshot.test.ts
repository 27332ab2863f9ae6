/**
 * oneshot end to end with the data-free pipeline, a user-defined modifier
 * registered at run time and used from YAML, and the failure paths.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Subgraph } from '../../src/core/events.js';
import type { SaveContext } from '../../src/core/model.js';
import { activeSession } from '../../src/core/session.js';
import type { State } from '../../src/core/state.js';
import type { Hardware } from '../../src/gpu/hardware.js';
import { JsonLinesLogger } from '../../src/loggers/jsonl.js';
import { LoggerManager } from '../../src/loggers/manager.js';
import { ModifierFactory } from '../../src/modifiers/factory.js';
import { MODIFIER_FIELDS, Modifier } from '../../src/modifiers/modifier.js';
import { oneshot } from '../../src/oneshot.js';
import { matchNamedModules } from '../../src/recipe/match.js';
import { Recipe } from '../../src/recipe/recipe.js';
import { NotImplementedError } from '../../src/recipe/errors.js';
import { field, t, type FieldSpec, type FieldsOut } from '../../src/recipe/schema.js';
import { getPipeline, registerPipeline, registeredPipelines, unregisterPipeline } from '../../src/pipelines/registry.js';
import { targetList } from '../../src/modifiers/quantization/args.js';
import { inErrorScope, useHardware } from '../helpers/gpu.js';
import { freshSeed } from '../helpers/random.js';
import { fakeLlama } from './fakeModel.js';
import { calls, PendingModifier, RecordingModifier } from './recording.js';

const hardware = useHardware();

/** What the user modifier saw, for assertions. */
interface Seen {
  device?: GPUDevice;
  hardware?: Hardware;
  subgraphs: string[][];
  norms: Map<string, number>;
  finalized: boolean;
}
const seen: Seen = { subgraphs: [], norms: new Map(), finalized: false };

const WEIGHT_NORM_FIELDS = [
  field('targets', targetList(), { default: ['Linear'], doc: 'Modules whose weight norm is measured.' }),
  field('ignore', targetList(), { default: [], doc: 'Modules skipped.' }),
  field('scale', t.float({ min: 0 }), { default: 1, doc: 'Multiplier applied to reported norms.' }),
] as const;

interface WeightNormModifier extends FieldsOut<typeof WEIGHT_NORM_FIELDS> {}

/**
 * A user modifier: measures ‖W‖ of every targeted weight, one layer group at
 * a time, reading weights from the GPU and releasing them afterwards (the
 * streaming pattern of data-free modifiers).
 */
class WeightNormModifier extends Modifier {
  static override readonly fields: readonly FieldSpec[] = [...WEIGHT_NORM_FIELDS, ...MODIFIER_FIELDS];
  private targetsSet = new Set<string>();

  override onInitialize(state: State): boolean {
    seen.hardware = state.hardware;
    seen.device = state.hardware?.device;
    this.targetsSet = new Set(matchNamedModules(state.model!.root, this.targets, this.ignore).map((m) => m.name));
    return true;
  }

  override async onSequentialEpochEnd(state: State, subgraph: Subgraph): Promise<void> {
    seen.subgraphs.push(subgraph.modules.map((m) => m.name));
    for (const m of subgraph.modules) {
      if (!this.targetsSet.has(m.name)) continue;
      const p = m.getParameter('weight')!;
      await state.loggers.timed({ modifier: this.type, layer: m.name, hardware: state.hardware }, async () => {
        const w = await (await p.get()).readF32();
        let s = 0;
        for (const x of w) s += x * x;
        seen.norms.set(m.name, Math.sqrt(s) * this.scale);
        p.release();
        return { error: 0 };
      });
    }
  }

  override onFinalize(): boolean {
    seen.finalized = true;
    return true;
  }
}

beforeAll(() => {
  ModifierFactory.register('WeightNormModifier', WeightNormModifier);
  ModifierFactory.register('RecordingModifier', RecordingModifier);
});
afterAll(() => {
  ModifierFactory.unregister('WeightNormModifier');
  ModifierFactory.unregister('RecordingModifier');
});

const RECIPE = `
measure_stage:
  measure_modifiers:
    WeightNormModifier:
      targets: [Linear]
      ignore: [lm_head]
      scale: 0.5
`;

describe('oneshot with a user-defined modifier from YAML', () => {
  it('receives State with hardware.device, sees one subgraph per decoder layer, streams weights; save gets recipe.yaml', async () => {
    const hw = await hardware();
    await inErrorScope(hw, async () => {
      const model = fakeLlama({ layers: 2, hardware: hw, seed: freshSeed() });
      const lines: string[] = [];
      const saved: { dir: string; ctx: SaveContext }[] = [];
      const result = await oneshot({
        model,
        recipe: RECIPE,
        hardware: hw,
        outputDir: '/tmp/out',
        recipeStage: 'measure',
        loggers: new LoggerManager([new JsonLinesLogger((l) => lines.push(l))]),
        save: async (_m, dir, ctx) => void saved.push({ dir, ctx }),
      });

      expect(seen.device).toBe(hw.device);
      expect(seen.hardware).toBe(hw);
      expect(seen.finalized).toBe(true);
      expect(result.pipeline).toBe('datafree');
      expect(result.outputDir).toBe('/tmp/out/measure');

      // Layer groups: embeddings join layer 0; final norm and lm_head join the last layer.
      expect(seen.subgraphs).toHaveLength(2);
      expect(seen.subgraphs[0].slice(0, 5)).toEqual(['', 'model', 'model.embed_tokens', 'model.layers', 'model.layers.0']);
      expect(seen.subgraphs[0].every((n) => !n.startsWith('model.layers.1'))).toBe(true);
      expect(seen.subgraphs[1][0]).toBe('model.layers.1');
      expect(seen.subgraphs[1].slice(-2)).toEqual(['model.norm', 'lm_head']);

      // Norms equal a float64 reference computed from the same weights; every weight loaded once and released.
      expect([...seen.norms.keys()]).toHaveLength(14);
      expect(seen.norms.has('lm_head')).toBe(false);
      for (const [name, norm] of seen.norms) {
        const p = model.root.getModule(name)!.getParameter('weight')!;
        expect(p.resident).toBe(false);
        const w = await (await p.get()).readF32();
        const ref = 0.5 * Math.sqrt(w.reduce((s, x) => s + x * x, 0));
        expect(Math.abs(norm - ref)).toBeLessThanOrEqual(1e-9 * ref);
        p.release();
        expect(model.loads.get(`${name}.weight`)).toBe(2); // once by the modifier, once here
      }

      const records = lines.map((l) => JSON.parse(l) as { type: string; modifier?: string; layer?: string; seconds?: number; memoryBytes?: number });
      const layers = records.filter((r) => r.type === 'layer');
      expect(layers.map((r) => r.layer)).toEqual([...seen.norms.keys()]);
      expect(layers.every((r) => r.modifier === 'WeightNormModifier' && r.seconds! >= 0 && typeof r.memoryBytes === 'number')).toBe(true);
      expect(records.filter((r) => r.type === 'progress')).toHaveLength(2);

      expect(saved).toHaveLength(1);
      expect(saved[0].dir).toBe('/tmp/out/measure');
      expect(saved[0].ctx.hardware).toBe(hw);
      const back = Recipe.fromText(saved[0].ctx.recipeYaml);
      expect(back.toObject()).toEqual({
        measure_stage: { measure_modifiers: { WeightNormModifier: { targets: ['Linear'], ignore: ['lm_head'], scale: 0.5 } } },
      });
      model.dispose!();
    });
  });
});

describe('oneshot selection and failures', () => {
  const recording = (extra = '') => `RecordingModifier: {label: R${extra}}\n`;

  it('the inferred pipeline must exist: calibration-needing recipes fail until sequential is registered', async () => {
    const hw = await hardware();
    // Other modules register the calibration pipelines; take them out for this test.
    const saved = ['sequential', 'layer_sequential', 'basic'].flatMap((n) => (registeredPipelines().includes(n) ? [getPipeline(n)] : []));
    for (const p of saved) unregisterPipeline(p.name);
    try {
      const err = await oneshot({ model: fakeLlama(), recipe: 'RecordingModifier: {label: R, needs_data: true}', hardware: hw, loggers: LoggerManager.silent() }).catch((e: Error) => e);
      expect((err as Error).message).toBe(
        'Calibration pipeline "sequential" is not available yet in webgpu-compressor (registered: datafree). RecordingModifier needs calibration data, which needs the "sequential" (or "basic") pipeline',
      );
      await expect(oneshot({ model: fakeLlama(), recipe: recording(), hardware: hw, pipeline: 'layer_sequential', loggers: LoggerManager.silent() })).rejects.toThrow(
        'Calibration pipeline "layer_sequential" is not available yet',
      );
      await expect(oneshot({ model: fakeLlama(), recipe: recording(), hardware: hw, pipeline: 'fancy', loggers: LoggerManager.silent() })).rejects.toThrow(
        'Calibration pipeline "fancy" is not known',
      );
    } finally {
      for (const p of saved) registerPipeline(p);
    }
  });

  it('a registered pipeline is used when asked for, with a warning; it needs a dataset', async () => {
    const hw = await hardware();
    const ran: string[] = [];
    const previous = registeredPipelines().includes('basic') ? getPipeline('basic') : undefined;
    registerPipeline({
      name: 'basic',
      description: 'test stand-in',
      needsData: true,
      async run(ctx) {
        ran.push(`${String(ctx.dataset)} n=${ctx.options.numCalibrationSamples} seed=${ctx.options.seed} len=${ctx.options.maxSeqLength} targets=${ctx.options.sequentialTargets}`);
        await ctx.session.callbacks.calibrationStart();
        await ctx.session.callbacks.sequentialEpochEnd({ index: 0, count: 1, modules: [...ctx.model.root.modules()] });
        await ctx.session.callbacks.calibrationEnd();
      },
    });
    try {
      const warnings: string[] = [];
      const loggers = new LoggerManager([{ write: (r) => void (r.type === 'message' && r.level === 'warning' && warnings.push(r.message)) }]);
      await expect(oneshot({ model: fakeLlama(), recipe: recording(), hardware: hw, pipeline: 'basic', loggers })).rejects.toThrow(
        'oneshot: the "basic" pipeline needs calibration data; pass `dataset`',
      );
      calls.length = 0;
      const r = await oneshot({ model: fakeLlama(), recipe: recording(), hardware: hw, pipeline: 'basic', dataset: 'data.txt', maxSeqLength: 64, sequentialTargets: 'LlamaDecoderLayer', loggers });
      expect(r.pipeline).toBe('basic');
      expect(ran).toEqual(['data.txt n=512 seed=42 len=64 targets=LlamaDecoderLayer']);
      expect(warnings).toContain('Calibration pipeline is set to `basic`, but it is recommended to use `datafree`');
      expect(calls).toEqual(['R:initialize', 'R:event(calibration_start)', 'R:calibrationStart', 'R:event(sequential_epoch_end)', 'R:sequentialEpochEnd#0/1', 'R:event(calibration_end)', 'R:calibrationEnd', 'R:finalize']);
    } finally {
      unregisterPipeline('basic');
      if (previous) registerPipeline(previous);
    }
  });

  it('warns when static activation scales would be observed in the same pass as smoothing', async () => {
    const hw = await hardware();
    const warningsFor = async (scheme: string): Promise<string[]> => {
      const warnings: string[] = [];
      const loggers = new LoggerManager([{ write: (r) => void (r.type === 'message' && r.level === 'warning' && warnings.push(r.message)) }]);
      const recipe = { SmoothQuantModifier: { smoothing_strength: 0.5 }, QuantizationModifier: { scheme, targets: ['Linear'] } };
      await expect(oneshot({ model: fakeLlama(), recipe, hardware: hw, loggers })).rejects.toThrow(/needs calibration data/);
      return warnings;
    };
    expect((await warningsFor('FP8')).join('\n')).toMatch(/QuantizationModifier calibrates static input scales in the same pass as SmoothQuantModifier/);
    expect((await warningsFor('W8A8')).join('\n')).not.toMatch(/static input scales/);
  });

  it('a failing modifier: oneshot rejects, initialized modifiers are finalized, the active session is restored', async () => {
    const hw = await hardware();
    const before = activeSession();
    calls.length = 0;
    await expect(
      oneshot({ model: fakeLlama(), recipe: `quant_stage:\n  a_modifiers:\n    RecordingModifier: {label: A}\n  b_modifiers:\n    RecordingModifier: {label: B, fail_on: sequentialEpochEnd}\n`, hardware: hw, loggers: LoggerManager.silent() }),
    ).rejects.toThrow('B failed in sequentialEpochEnd');
    expect(calls.slice(-2)).toEqual(['A:finalize', 'B:finalize']);
    expect(activeSession()).toBe(before);
  });

  it('a modifier without an algorithm fails with a clear error; a model this call loaded is disposed', async () => {
    const hw = await hardware();
    let disposed = false;
    ModifierFactory.register('PendingModifier', PendingModifier);
    try {
      const err = await oneshot({
        model: 'some/model',
        loadModel: async () => ({ ...fakeLlama(), dispose: () => void (disposed = true) }),
        recipe: 'PendingModifier: {}',
        hardware: hw,
        loggers: LoggerManager.silent(),
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotImplementedError);
      expect((err as Error).message).toBe('PendingModifier is not implemented yet in webgpu-compressor');
      expect(disposed).toBe(true);
    } finally {
      ModifierFactory.unregister('PendingModifier');
    }
  });

  it('misconfiguration is caught before any work', async () => {
    const hw = await hardware();
    const opts = { recipe: recording(), hardware: hw, loggers: LoggerManager.silent() };
    await expect(oneshot({ ...opts, model: 'some/model' })).rejects.toThrow('oneshot: model "some/model" is a path, but no model loader is registered; pass a loaded Model or `loadModel`');
    await expect(oneshot({ ...opts, model: fakeLlama(), outputDir: '/tmp/x' })).rejects.toThrow('oneshot: `outputDir` is set but the model has no `save` and no `save` option was given');
    await expect(oneshot({ ...opts, model: fakeLlama(), numCalibrationSamples: 0 })).rejects.toThrow('oneshot: numCalibrationSamples must be an integer ≥ 1, got 0');
    await expect(oneshot({ ...opts, model: fakeLlama(), sequentialTargets: ['re:(('] })).rejects.toThrow('oneshot: sequentialTargets: invalid regular expression "re:((": Unterminated group');
    await expect(oneshot({ ...opts, model: fakeLlama(), recipe: 'GPTQModifier: {blocksize: 1}' })).rejects.toThrow('GPTQModifier.blocksize: unknown field (did you mean block_size?)');
  });
});
