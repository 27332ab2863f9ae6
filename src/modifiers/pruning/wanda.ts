/**
 * WandaPruningModifier (llm-compressor `modifiers/pruning/wanda/base.py`):
 * prunes by |W|·‖X‖ (reference §6.3). No fields beyond the sparsity base;
 * algorithm not written yet.
 */
import type { State } from '../../core/state.js';
import { notImplemented, type InitializeOptions } from '../modifier.js';
import { SparsityModifierBase } from './sparsityBase.js';

export class WandaPruningModifier extends SparsityModifierBase {
  override onInitialize(_state: State, _options: InitializeOptions): boolean {
    throw notImplemented(this);
  }
}
