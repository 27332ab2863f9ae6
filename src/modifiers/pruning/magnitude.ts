/**
 * MagnitudePruningModifier (llm-compressor `modifiers/pruning/magnitude/base.py`):
 * scheduled magnitude pruning driven by `start`/`end` and batch events.
 * Fields complete; algorithm not written yet.
 */
import type { State } from '../../core/state.js';
import { field, t, type FieldSpec, type FieldType, type FieldsOut, type ParseContext } from '../../recipe/schema.js';
import { MODIFIER_FIELDS, Modifier, notImplemented, type InitializeOptions } from '../modifier.js';
import { targetList } from '../quantization/args.js';

const SCHEDULERS = ['linear', 'cubic', 'polynomial_decay', 'polynomial', 'multi_step'];

const scheduler = t.string({
  label: `${SCHEDULERS.join(', ')} or calc(<expression>)`,
  check: (s) => (SCHEDULERS.includes(s) || (s.startsWith('calc(') && s.endsWith(')')) ? undefined : `Unknown scheduler type: ${s} (expected ${SCHEDULERS.join(', ')} or calc(<expression>))`),
});

const maskStructure = t.string({
  label: 'unstructured, channel, filter or block_<d0>,<d1>,…',
  check: (s) => (['unstructured', 'channel', 'filter'].includes(s) || /^block_\d+(,\d+)*$/.test(s) ? undefined : `Invalid mask_structure: ${s} (expected unstructured, channel, filter or block_<d0>,<d1>,…)`),
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
  field('final_sparsity', fraction, { required: true, doc: 'Sparsity when the window closes.' }),
  field('update_scheduler', scheduler, { default: 'cubic', doc: 'How sparsity grows between start and end.' }),
  field('scheduler_args', t.data('mapping of scheduler options'), { default: {}, doc: 'Options for the scheduler.' }),
  field('mask_structure', maskStructure, { default: 'unstructured', doc: 'Granularity of the mask.' }),
  field('leave_enabled', leaveEnabled, { default: false, deprecated: true, doc: 'Deprecated; forced to false.' }),
  field('apply_globally', t.bool(), { default: false, doc: 'Global (cross-layer) pruning; not implemented in llm-compressor.' }),
] as const;

export interface MagnitudePruningModifier extends FieldsOut<typeof MAGNITUDE_FIELDS> {}

export class MagnitudePruningModifier extends Modifier {
  static override readonly fields: readonly FieldSpec[] = [...MAGNITUDE_FIELDS, ...MODIFIER_FIELDS];

  protected override validate(ctx: ParseContext): void {
    super.validate(ctx);
    // llm-compressor raises this at initialize; it can only ever fail, so say so now.
    if (this.applyGlobally) this.fieldPath('apply_globally').fail('global pruning (apply_globally: true) is not implemented');
  }

  override onInitialize(_state: State, _options: InitializeOptions): boolean {
    throw notImplemented(this);
  }
}
