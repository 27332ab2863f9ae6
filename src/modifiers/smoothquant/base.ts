/**
 * SmoothQuantModifier (llm-compressor `modifiers/transform/smoothquant/base.py`):
 * moves activation outliers into the weights with per-channel scales
 * (reference §6.4). Fields complete; algorithm not written yet.
 */
import type { State } from '../../core/state.js';
import { targetProblem } from '../../recipe/match.js';
import { describeValue, field, t, type FieldSpec, type FieldType, type FieldsOut, type ParseContext } from '../../recipe/schema.js';
import { MODIFIER_FIELDS, Modifier, notImplemented, type InitializeOptions } from '../modifier.js';
import { targetList } from '../quantization/args.js';

/** `[balance_layers, smooth_layer]`: the layers reading the smoothed activation, and the layer producing it. */
export type SmoothQuantMapping = [balanceLayers: string[], smoothLayer: string];

const mapping: FieldType<SmoothQuantMapping> = {
  label: '[[balance layers...], smooth layer]',
  parse(v, ctx) {
    if (!Array.isArray(v) || v.length !== 2) return ctx.path.fail(`expected a mapping [[balance layers...], smooth layer], got ${describeValue(v)}${Array.isArray(v) ? ` of ${v.length} item(s)` : ''}`);
    const balance = targetList().parse(v[0], { ...ctx, path: ctx.path.child(0) });
    const smooth = t.string({ check: targetProblem }).parse(v[1], { ...ctx, path: ctx.path.child(1) });
    return [balance, smooth];
  },
  toPlain: (v) => [[...v[0]], v[1]],
};

/** A Python callable cannot be written in a recipe; only null is meaningful here. */
const callable: FieldType<null> = {
  label: 'null (a Python callable in llm-compressor)',
  parse: (v, ctx) => (v === null ? null : ctx.path.fail(`a calibration function cannot be given in a recipe (got ${describeValue(v)}); it is unused in llm-compressor too`)),
  toPlain: () => null,
};

export const SMOOTHQUANT_FIELDS = [
  field('smoothing_strength', t.float({ min: 0, max: 1 }), { default: 0.5, doc: 'α: how much of the activation range moves into the weights.' }),
  field('mappings', t.nullable(t.list(mapping)), { default: null, doc: 'Smoothing mappings; inferred from the architecture when null.' }),
  field('ignore', t.nullable(targetList()), { default: null, doc: 'Layers to leave alone; a mapping is skipped only when all its layers are ignored.' }),
  field('num_calibration_steps', t.nullable(t.int({ min: 1 })), { default: null, doc: 'Declared by llm-compressor but unused.' }),
  field('calibration_function', t.nullable(callable), { default: null, doc: 'Declared by llm-compressor but unused.' }),
  field('algorithm', t.enum(['smoothquant', 'log_equalization'] as const), { default: 'smoothquant', doc: 'SmoothQuant, or logarithmic activation equalization.' }),
] as const;

export interface SmoothQuantModifier extends FieldsOut<typeof SMOOTHQUANT_FIELDS> {}

export class SmoothQuantModifier extends Modifier {
  static override readonly fields: readonly FieldSpec[] = [...SMOOTHQUANT_FIELDS, ...MODIFIER_FIELDS];
  static override readonly requiresCalibrationData: boolean = true;

  protected override validate(ctx: ParseContext): void {
    super.validate(ctx);
    // llm-compressor checks truthiness, so 0 passes as well as null and -1.
    if (this.end && this.end !== -1) this.fieldPath('end').fail(`${this.type} can only be applied during one-shot. Expected end to be None or -1, got ${this.end}`);
    if (this.start && this.start !== -1) this.fieldPath('start').fail(`${this.type} can only be applied during one-shot. Expected start to be None or -1, got ${this.start}`);
  }

  override onInitialize(_state: State, _options: InitializeOptions): boolean {
    throw notImplemented(this);
  }
}
