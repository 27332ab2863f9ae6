/**
 * SparsityModifierBase (llm-compressor `modifiers/pruning/sparsegpt/sgpt_base.py`):
 * fields shared by SparseGPT and Wanda.
 */
import type { Event, Subgraph } from '../../core/events.js';
import type { HookCall, Model, Module } from '../../core/model.js';
import { requireHardware, requireModel, type State } from '../../core/state.js';
import type { Hardware } from '../../gpu/hardware.js';
import { Tensor } from '../../gpu/tensor.js';
import { isMatch, matchNamedModules } from '../../recipe/match.js';
import { field, t, type FieldSpec, type FieldType, type FieldsOut, type ParseContext } from '../../recipe/schema.js';
import { MODIFIER_FIELDS, Modifier, type InitializeOptions } from '../modifier.js';
import { targetList } from '../quantization/args.js';
import { InputStatistics, hookInput, tiedWeightError, tiedWith, type StatisticKind } from '../../compression/calibration.js';
import { countZeros } from '../../compression/kernels/prune.js';
import { owlLayerSparsities } from './owl.js';
import { markPruned } from '../../compression/sparsityMarks.js';

/** `N:M` (N of every M weights pruned, e.g. `2:4`) or `0:0` (unstructured). */
export function parseMaskStructure(s: string): { n: number; m: number } | undefined {
  const m = /^(\d+):(\d+)$/.exec(s.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const total = Number(m[2]);
  if ((n === 0 && total === 0) || (n > 0 && n < total)) return { n, m: total };
  return undefined;
}

const maskStructure = t.string({
  label: '"N:M" with 0 < N < M, or "0:0" (unstructured)',
  check: (s) => (parseMaskStructure(s) ? undefined : `invalid mask_structure ${JSON.stringify(s)}: expected "N:M" with 0 < N < M (e.g. "2:4"), or "0:0" for unstructured`),
});

const fraction = t.float({ min: 0, max: 1 });

const sparsityType: FieldType<number | number[], number | number[]> = t.oneOf(
  'a sparsity in [0, 1] or a list of them (one per target layer)',
  [fraction as FieldType<number | number[], number | number[]>, t.list(fraction) as FieldType<number | number[], number | number[]>],
  (v) => (Array.isArray(v) ? 1 : 0),
);

const sequentialUpdate: FieldType<boolean> = {
  label: 'boolean (deprecated; always true)',
  parse(v, ctx) {
    const b = t.bool().parse(v, ctx);
    if (!b) ctx.warnings.push(`${ctx.path}: \`sequential_update=False\` is no longer supported, setting sequential_update=True`);
    return true;
  },
  toPlain: (v) => v,
};

export const SPARSITY_FIELDS = [
  field('sparsity', t.nullable(sparsityType), { required: true, doc: 'Fraction of weights to prune, or one fraction per target layer.' }),
  field('sparsity_profile', t.nullable(t.enum(['owl'] as const, { caseInsensitive: true })), { default: null, doc: 'Per-layer sparsity profile; only "owl".' }),
  field('mask_structure', maskStructure, { default: '0:0', doc: '"N:M" structured sparsity (e.g. "2:4") or "0:0" for unstructured.' }),
  field('owl_m', t.nullable(t.int({ min: 1 })), { default: null, doc: 'OWL: number of outliers considered.' }),
  field('owl_lmbda', t.nullable(t.float()), { default: null, doc: 'OWL: spread of layer sparsities around the target.' }),
  field('sequential_update', t.nullable(sequentialUpdate), { default: false, deprecated: true, doc: 'Deprecated; forced to true when given.' }),
  field('targets', targetList(), { default: ['Linear'], doc: 'Modules to prune (only Linear/Conv weights inside them are prunable).' }),
  field('ignore', targetList(), { default: [], doc: 'Modules never pruned.' }),
] as const;

export interface SparsityModifierBase extends FieldsOut<typeof SPARSITY_FIELDS> {}

/** Module classes whose weights SparseGPT and Wanda prune (`PRUNABLE_LAYER_TYPES`). */
export const PRUNABLE_LAYER_TYPES = ['Linear', 'Conv1d', 'Conv2d', 'Conv3d'];

/** Running sparsity totals for the summary (per layer logged as it goes, global at the end). */
export class SparsityTally {
  zeros = 0;
  total = 0;

  /** Counts the zeros of `w` (one read-back), adds them to the totals and returns the layer's sparsity. */
  async add(hw: Hardware, w: Tensor): Promise<number> {
    const z = await countZeros(hw, w);
    this.zeros += z;
    this.total += w.numel;
    return z / w.numel;
  }

  get sparsity(): number {
    return this.total ? this.zeros / this.total : 0;
  }
}

/** An f32 copy of a module's weight (cast from bf16/f16), chunked like the original. */
export async function weightCopy(hw: Hardware, module: Module): Promise<Tensor> {
  const p = module.getParameter('weight');
  if (!p) throw new Error(`${module.name}: has no weight parameter`);
  const w = await p.get();
  if (w.shape.length !== 2) throw new Error(`${module.name}.weight: expected a 2-D weight, got [${w.shape.join(', ')}]`);
  if (w.dtype !== 'f32') {
    const { castToF32 } = await import('../../gpu/kernels/elementwise.js');
    return castToF32(hw, w);
  }
  const out = Tensor.empty(hw, w.shape, 'f32', { maxChunkBytes: w.chunks[0].rows * w.rowElems * 4 });
  w.chunks.forEach((c, i) => hw.batcher.copy(c.buffer, 0, out.chunks[i].buffer, 0, c.byteLength));
  return out;
}

/**
 * Base of SparseGPT and Wanda (llm-compressor `sgpt_base.py`): both need
 * calibration data. Target layers come from `targets`; inside each, every
 * Linear/Conv module not matched by `ignore` is pruned with that layer's
 * sparsity (a list gives one per target layer; OWL infers them). Hooks
 * collect the input statistic the subclass asks for; each module is pruned
 * at SEQUENTIAL_EPOCH_END of its subgraph.
 */
export abstract class SparsityModifierBase extends Modifier {
  static override readonly fields: readonly FieldSpec[] = [...SPARSITY_FIELDS, ...MODIFIER_FIELDS];
  static override readonly requiresCalibrationData: boolean = true;

  /** Sparsity per target layer (after OWL), set by `onInitialize`. */
  protected layerSparsity: number[] = [];
  /** Prunable modules and their sparsity, set at calibration start. */
  protected readonly moduleSparsity = new Map<Module, number>();
  protected stats: InputStatistics | undefined;
  protected readonly tally = new SparsityTally();

  protected override validate(ctx: ParseContext): void {
    super.validate(ctx);
    const owl = [this.owlM !== null, this.owlLmbda !== null, this.sparsityProfile === 'owl'];
    if (owl.some(Boolean) && !owl.every(Boolean)) this.recipePath.fail('Must provide all of `profile="owl"`, `owl_m` and `owl_lmbda` or none');
    if (this.sparsity === null) this.fieldPath('sparsity').fail('sparsity is required (a fraction in [0, 1) or one per target layer)');
  }

  /** `mask_structure` as numbers: n = m = 0 for unstructured. */
  get pruneNM(): { n: number; m: number } {
    return parseMaskStructure(this.maskStructure)!;
  }

  /** Which statistic the hooks accumulate. */
  protected abstract readonly statistic: StatisticKind;

  /** Prunes one module from its statistic; returns the loss to log (or undefined). */
  protected abstract pruneModule(state: State, module: Module, stat: { tensor: Tensor; samples: number; n: number }, sparsity: number): Promise<number | undefined>;

  /** Layers matched by `targets` (the units a sparsity list indexes). */
  protected targetLayers(model: Model): Module[] {
    return matchNamedModules(model.root, this.targets);
  }

  /** Prunable modules of a target layer (itself included), minus `ignore`. */
  protected prunableIn(layer: Module): Module[] {
    const out: Module[] = [];
    for (const m of layer.modules()) {
      if (m.isA('Embedding') || !PRUNABLE_LAYER_TYPES.some((c) => m.isA(c)) || !m.getParameter('weight')) continue;
      if (this.ignore.length && isMatch(m, this.ignore)) continue;
      out.push(m);
    }
    return out;
  }

  override async onInitialize(state: State, _options: InitializeOptions): Promise<boolean> {
    const model = requireModel(state, this.type);
    const layers = this.targetLayers(model);
    if (this.sparsityProfile === 'owl') {
      if (Array.isArray(this.sparsity)) this.fieldPath('sparsity').fail('OWL needs one target sparsity, not a list');
      const hw = requireHardware(state, this.type);
      this.layerSparsity = await owlLayerSparsities(hw, state, model, layers.map((l) => this.prunableIn(l)), this.sparsity as number, this.owlM!, this.owlLmbda!, this.type);
      state.loggers.info(`OWL sparsities for sp=${this.sparsity} are: ${layers.map((l, i) => `${l.name}: ${this.layerSparsity[i].toFixed(4)}`).join(', ')}`, { modifier: this.type });
    } else if (Array.isArray(this.sparsity)) {
      if (this.sparsity.length !== layers.length) {
        this.fieldPath('sparsity').fail(`${this.type} was initialized with ${this.sparsity.length} sparsities values, but model has ${layers.length} target layers`);
      }
      this.layerSparsity = [...this.sparsity];
    } else {
      this.layerSparsity = layers.map(() => this.sparsity as number);
    }
    for (const [i, s] of this.layerSparsity.entries()) {
      if (!(s >= 0 && s < 1) && this.pruneNM.n === 0) throw new Error(`${this.recipePath}: sparsity of target layer ${layers[i]?.name} is ${s}; it must be in [0, 1)`);
    }
    return true;
  }

  override onCalibrationStart(state: State, _event: Event): void {
    const model = requireModel(state, this.type);
    const hw = requireHardware(state, this.type);
    this.moduleSparsity.clear();
    this.stats?.dispose();
    const stats = this.createStatistics(hw);
    this.stats = stats;
    this.targetLayers(model).forEach((layer, i) => {
      for (const m of this.prunableIn(layer)) {
        if (this.moduleSparsity.has(m)) continue;
        if (m.name.endsWith('lm_head')) {
          state.loggers.warning('`lm_head` was previously auto-ignored by SparseGPT and Wanda modifiers and is not advised. Please add `re:.*lm_head` to your ignore list if this was unintentional', { modifier: this.type, layer: m.name });
        }
        const tied = tiedWith(model, m);
        if (tied.length) throw tiedWeightError(this.type, m, tied);
        this.moduleSparsity.set(m, this.layerSparsity[i]);
        this.registerHook(m, 'forward', (call: HookCall) => stats.accumulate(call.module, hookInput(call)));
      }
    });
  }

  protected createStatistics(hw: Hardware): InputStatistics {
    return new InputStatistics(hw, this.statistic);
  }

  override async onSequentialEpochEnd(state: State, subgraph: Subgraph, _event: Event): Promise<void> {
    const stats = this.stats;
    if (!stats) return;
    const hw = requireHardware(state, this.type);
    for (const m of subgraph.modules) {
      if (!stats.has(m)) continue;
      const sparsity = this.moduleSparsity.get(m)!;
      await state.loggers.timed({ modifier: this.type, layer: m.name, hardware: hw }, async () => {
        const stat = stats.take(m);
        const loss = await this.pruneModule(state, m, stat, sparsity);
        markPruned(m);
        const achieved = await this.tally.add(hw, await m.getParameter('weight')!.get());
        return { error: loss, extra: { sparsity: achieved, samples: stat.samples } };
      });
    }
  }

  override onCalibrationEnd(_state: State, _event: Event): void {
    this.removeHooks();
  }

  override onFinalize(state: State): boolean {
    this.removeHooks();
    const left = this.stats?.size ?? 0;
    this.stats?.dispose();
    this.stats = undefined;
    if (left > 0) throw new Error(`${this.type}: Failed to compress ${left} modules`);
    if (this.tally.total) state.loggers.metric('global_sparsity', this.tally.sparsity, { modifier: this.type });
    return true;
  }
}
