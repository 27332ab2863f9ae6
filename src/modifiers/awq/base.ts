/**
 * AWQModifier (llm-compressor `modifiers/transform/awq/base.py`): activation-
 * aware channel scaling. A transform only: a recipe must follow it with a
 * quantizing modifier (checked by the recipe). Fields complete; algorithm
 * not written yet.
 */
import type { State } from '../../core/state.js';
import { targetProblem } from '../../recipe/match.js';
import { describeValue, field, t, type FieldSpec, type FieldType, type FieldsOut } from '../../recipe/schema.js';
import { MODIFIER_FIELDS, Modifier, notImplemented, type InitializeOptions } from '../modifier.js';
import { targetList } from '../quantization/args.js';

const target = t.string({ check: targetProblem, label: 'target (name or re:pattern)' });

/** One smoothing mapping: the layer whose output is scaled, and the layers that consume it. */
export const AWQ_MAPPING = t.object('an AWQ mapping', [
  field('smooth_layer', target, { required: true, doc: 'Module whose output activations are smoothed (usually a norm or v_proj/up_proj).' }),
  field('balance_layers', targetList(), { required: true, doc: 'Modules reading that output, whose weights absorb the scales.' }),
  field('activation_hook_target', t.nullable(t.string()), { default: null, doc: 'Submodule of the balance layers’ common parent to hook instead of balance_layers[0].' }),
] as const);
export type AWQMapping = ReturnType<typeof AWQ_MAPPING.parse>;

const duoScaling: FieldType<boolean | 'both'> = {
  label: 'true, false or "both"',
  parse(v, ctx) {
    if (v === 'both') return 'both';
    try {
      return t.bool().parse(v, ctx);
    } catch {
      return ctx.path.fail(`expected true, false or "both", got ${describeValue(v)}`);
    }
  },
  toPlain: (v) => v,
};

export const AWQ_FIELDS = [
  field('mappings', t.nullable(t.list(AWQ_MAPPING)), { default: null, doc: 'Smoothing mappings; inferred from the architecture when null.' }),
  field('offload_device', t.nullable(t.string()), {
    defaultLabel: 'cpu for MoE models, else none (decided at initialize)',
    doc: 'Where cached parent-module inputs are kept between uses.',
  }),
  field('duo_scaling', duoScaling, { default: true, doc: 'Scale from activations and weights (true), activations only (false), or search both halves ("both").' }),
  field('n_grid', t.int({ min: 1 }), { default: 20, doc: 'Grid points of the per-mapping scale search.' }),
] as const;

export interface AWQModifier extends FieldsOut<typeof AWQ_FIELDS> {}

/** Why an old AWQ recipe's quantization fields are rejected (AWQ stopped quantizing in llm-compressor PR #2526). */
const MOVED = 'AWQModifier no longer quantizes; put scheme, config_groups, targets and ignore in a QuantizationModifier or GPTQModifier after it';

export class AWQModifier extends Modifier {
  static override readonly fields: readonly FieldSpec[] = [...AWQ_FIELDS, ...MODIFIER_FIELDS];
  static override readonly requiresCalibrationData: boolean = true;
  static readonly removedFields: Readonly<Record<string, string>> = {
    scheme: MOVED,
    config_groups: MOVED,
    targets: MOVED,
    ignore: MOVED,
    kv_cache_scheme: MOVED,
  };

  override onInitialize(_state: State, _options: InitializeOptions): boolean {
    throw notImplemented(this);
  }
}
