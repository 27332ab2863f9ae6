/**
 * ConstantPruningModifier (llm-compressor `modifiers/pruning/constant/base.py`):
 * keeps an existing sparsity mask (|W| > 1e-8) fixed across optimizer steps.
 * Fields complete; algorithm not written yet.
 */
import type { State } from '../../core/state.js';
import { field, type FieldSpec, type FieldsOut } from '../../recipe/schema.js';
import { MODIFIER_FIELDS, Modifier, notImplemented, type InitializeOptions } from '../modifier.js';
import { targetList } from '../quantization/args.js';

export const CONSTANT_PRUNING_FIELDS = [field('targets', targetList(), { required: true, doc: 'Parameters or modules whose masks are kept.' })] as const;

export interface ConstantPruningModifier extends FieldsOut<typeof CONSTANT_PRUNING_FIELDS> {}

export class ConstantPruningModifier extends Modifier {
  static override readonly fields: readonly FieldSpec[] = [...CONSTANT_PRUNING_FIELDS, ...MODIFIER_FIELDS];

  override onInitialize(_state: State, _options: InitializeOptions): boolean {
    throw notImplemented(this);
  }
}
