/**
 * WandaPruningModifier (llm-compressor `modifiers/pruning/wanda/base.py`,
 * reference §6.3): the running mean of each prunable module's per-column
 * ‖X_j‖² (GPU), then |W|·sqrt(S) pruning per output row (unstructured,
 * stable ties) or per N:M group, without a weight update.
 */
import type { Module } from '../../core/model.js';
import { requireHardware, type State } from '../../core/state.js';
import type { Tensor } from '../../gpu/tensor.js';
import type { StatisticKind } from '../../compression/calibration.js';
import { wandaPrune } from '../../compression/kernels/prune.js';
import { SparsityModifierBase, weightCopy } from './sparsityBase.js';

export class WandaPruningModifier extends SparsityModifierBase {
  protected get statistic(): StatisticKind {
    return 'columnNorms';
  }

  protected async pruneModule(state: State, module: Module, stat: { tensor: Tensor }, sparsity: number): Promise<undefined> {
    const hw = requireHardware(state, this.type);
    const { n, m } = this.pruneNM;
    const w = await weightCopy(hw, module);
    wandaPrune(hw, w, stat.tensor, sparsity, n, m);
    stat.tensor.dispose();
    module.getParameter('weight')!.set(w);
    return undefined;
  }
}
