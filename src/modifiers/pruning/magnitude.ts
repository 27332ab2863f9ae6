/**
 * MagnitudePruningModifier (llm-compressor `modifiers/pruning/magnitude/base.py`):
 * zero the smallest |w| of each targeted weight. llm-compressor schedules the
 * sparsity from init_sparsity to final_sparsity over training steps and, in
 * oneshot, never applies its mask; here oneshot prunes each weight to
 * `final_sparsity` when its layer group is compressed (one threshold per
 * layer, ties pruned as `mask_factory.unstructured_pruning` does). Besides
 * llm-compressor's structures this accepts "N:M" (N smallest |w| of every M
 * consecutive columns). Runs on the GPU (exact radix selection).
 */
import type { Event, Subgraph } from '../../core/events.js';
import type { Module } from '../../core/model.js';
import { requireHardware, requireModel, type State } from '../../core/state.js';
import { matchNamedModules } from '../../recipe/match.js';
import { field, t, type FieldSpec, type FieldType, type FieldsOut, type ParseContext } from '../../recipe/schema.js';
import { MODIFIER_FIELDS, Modifier, type InitializeOptions } from '../modifier.js';
import { targetList } from '../quantization/args.js';
import { tiedWeightError, tiedWith } from '../../compression/calibration.js';
import { magnitudePruneUnstructured, pruneNM } from '../../compression/kernels/prune.js';
import { markPruned } from '../../compression/sparsityMarks.js';
import { SparsityTally, weightCopy } from './sparsityBase.js';

const SCHEDULERS = ['linear', 'cubic', 'polynomial_decay', 'polynomial', 'multi_step'];

const scheduler = t.string({
  label: `${SCHEDULERS.join(', ')} or calc(<expression>)`,
  check: (s) => (SCHEDULERS.includes(s) || (s.startsWith('calc(') && s.endsWith(')')) ? undefined : `Unknown scheduler type: ${s} (expected ${SCHEDULERS.join(', ')} or calc(<expression>))`),
});

const NM = /^(\d+):(\d+)$/;

const maskStructure = t.string({
  label: 'unstructured, N:M (e.g. 2:4), channel, filter or block_<d0>,<d1>,…',
  check: (s) => {
    const nm = NM.exec(s);
    if (nm) return Number(nm[1]) > 0 && Number(nm[1]) < Number(nm[2]) ? undefined : `Invalid mask_structure: ${s} (N:M needs 0 < N < M)`;
    return ['unstructured', 'channel', 'filter'].includes(s) || /^block_\d+(,\d+)*$/.test(s) ? undefined : `Invalid mask_structure: ${s} (expected unstructured, N:M, channel, filter or block_<d0>,<d1>,…)`;
  },
});

const leaveEnabled: FieldType<boolean> = {
  label: 'boolean (deprecated; always false)',
  parse(v, ctx) {
    if (t.bool().parse(v, ctx)) ctx.warnings.push(`${ctx.path}: MagnitudePruningModifier.leave_enabled has been deprecated and will be set to False.`);
    return false;
  },
  toPlain: (v) => v,
};

const fraction = t.float({ min: 0, max: 1 });

export const MAGNITUDE_FIELDS = [
  field('targets', targetList(), { required: true, doc: 'Parameters or modules to prune.' }),
  field('init_sparsity', fraction, { required: true, doc: 'Sparsity when the window opens.' }),
  field('final_sparsity', fraction, { required: true, doc: 'Sparsity when the window closes (oneshot prunes to this).' }),
  field('update_scheduler', scheduler, { default: 'cubic', doc: 'How sparsity grows between start and end.' }),
  field('scheduler_args', t.data('mapping of scheduler options'), { default: {}, doc: 'Options for the scheduler.' }),
  field('mask_structure', maskStructure, { default: 'unstructured', doc: 'unstructured, or N:M (an extension); channel/filter/block apply to conv weights and are not supported here.' }),
  field('leave_enabled', leaveEnabled, { default: false, deprecated: true, doc: 'Deprecated; forced to false.' }),
  field('apply_globally', t.bool(), { default: false, doc: 'Global (cross-layer) pruning; not implemented in llm-compressor.' }),
] as const;

export interface MagnitudePruningModifier extends FieldsOut<typeof MAGNITUDE_FIELDS> {}

export class MagnitudePruningModifier extends Modifier {
  static override readonly fields: readonly FieldSpec[] = [...MAGNITUDE_FIELDS, ...MODIFIER_FIELDS];

  private targetModules = new Set<Module>();
  private readonly tally = new SparsityTally();

  protected override validate(ctx: ParseContext): void {
    super.validate(ctx);
    // llm-compressor raises this at initialize; it can only ever fail, so say so now.
    if (this.applyGlobally) this.fieldPath('apply_globally').fail('global pruning (apply_globally: true) is not implemented');
    const s = this.maskStructure;
    if (s !== 'unstructured' && !NM.test(s)) this.fieldPath('mask_structure').fail(`mask_structure ${s} prunes conv channels/filters/blocks in llm-compressor; only "unstructured" and "N:M" apply to Linear weights here`);
  }

  override onInitialize(state: State, _options: InitializeOptions): boolean {
    const model = requireModel(state, this.type);
    // Targets may name parameters (`re:.*weight`, `model.layers.0.mlp.up_proj.weight`): prune their module's weight.
    const targets = this.targets.map((x) => x.replace(/\.weight(\$?)$/, '$1').replace(/^(re:.*)weight$/, '$1'));
    this.targetModules = new Set(matchNamedModules(model.root, targets).filter((m) => m.getParameter('weight') !== undefined));
    if (this.targetModules.size === 0) this.fieldPath('targets').fail(`no module with a weight matches ${JSON.stringify(this.targets)}`);
    for (const m of this.targetModules) {
      const tied = tiedWith(model, m);
      if (tied.length) throw tiedWeightError(this.type, m, tied);
    }
    return true;
  }

  override async onSequentialEpochEnd(state: State, subgraph: Subgraph, _event: Event): Promise<void> {
    const hw = requireHardware(state, this.type);
    const nm = NM.exec(this.maskStructure);
    for (const m of subgraph.modules) {
      if (!this.targetModules.has(m)) continue;
      this.targetModules.delete(m);
      await state.loggers.timed({ modifier: this.type, layer: m.name, hardware: hw }, async () => {
        const w = await weightCopy(hw, m);
        if (w.shape.length !== 2) throw new Error(`${m.name}.weight: expected a 2-D weight`);
        if (nm) pruneNM(hw, w, Number(nm[1]), Number(nm[2]));
        else magnitudePruneUnstructured(hw, [w], this.finalSparsity);
        m.getParameter('weight')!.set(w);
        markPruned(m);
        return { extra: { sparsity: await this.tally.add(hw, w) } };
      });
    }
  }

  override onFinalize(state: State): boolean {
    if (this.tally.total) state.loggers.metric('global_sparsity', this.tally.sparsity, { modifier: this.type });
    if (this.targetModules.size > 0) throw new Error(`${this.type}: ${this.targetModules.size} targeted modules were never reached by the pipeline (${[...this.targetModules].slice(0, 3).map((m) => m.name).join(', ')})`);
    return true;
  }
}
