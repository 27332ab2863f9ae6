/**
 * SparseGPTModifier (llm-compressor `modifiers/pruning/sparsegpt/base.py`):
 * OBS-style one-shot pruning, unstructured or N:M (reference §6.2). Fields
 * complete; algorithm not written yet.
 */
import type { State } from '../../core/state.js';
import { field, t, type FieldSpec, type FieldsOut } from '../../recipe/schema.js';
import { MODIFIER_FIELDS, notImplemented, type InitializeOptions } from '../modifier.js';
import { SPARSITY_FIELDS, SparsityModifierBase } from './sparsityBase.js';

export const SPARSEGPT_FIELDS = [
  field('block_size', t.int({ min: 1 }), { default: 128, doc: 'Columns pruned per block.' }),
  field('dampening_frac', t.nullable(t.float({ min: 0 })), { default: 0.01, doc: 'Added to the Hessian diagonal, as a fraction of mean(diag(H)).' }),
  field('preserve_sparsity_mask', t.bool(), { default: false, doc: 'Extend an existing sparsity mask instead of replacing it.' }),
  field('offload_hessians', t.bool(), { default: false, doc: 'Keep Hessians in host memory between uses.' }),
] as const;

export interface SparseGPTModifier extends FieldsOut<typeof SPARSEGPT_FIELDS> {}

export class SparseGPTModifier extends SparsityModifierBase {
  static override readonly fields: readonly FieldSpec[] = [...SPARSEGPT_FIELDS, ...SPARSITY_FIELDS, ...MODIFIER_FIELDS];

  override onInitialize(_state: State, _options: InitializeOptions): boolean {
    throw notImplemented(this);
  }
}
