/**
 * SparseGPTModifier (llm-compressor `modifiers/pruning/sparsegpt/base.py`,
 * reference §6.2): running-average Hessians of each prunable module's inputs
 * (GPU), then OBS pruning with per-block thresholds (unstructured) or N:M
 * groups and error propagation (src/compression/sparsegpt.ts). A failed
 * factorisation falls back to the identity (plain magnitude-in-block masks)
 * with llm-compressor's warning.
 */
import type { Module } from '../../core/model.js';
import { requireHardware, type State } from '../../core/state.js';
import type { Hardware } from '../../gpu/hardware.js';
import type { Tensor } from '../../gpu/tensor.js';
import { field, t, type FieldSpec, type FieldsOut } from '../../recipe/schema.js';
import { MODIFIER_FIELDS } from '../modifier.js';
import { InputStatistics, type StatisticKind } from '../../compression/calibration.js';
import { sparseGptLayer } from '../../compression/sparsegpt.js';
import { readGptqOutcome } from '../../compression/gptq.js';
import { SPARSITY_FIELDS, SparsityModifierBase, weightCopy } from './sparsityBase.js';

export const SPARSEGPT_FIELDS = [
  field('block_size', t.int({ min: 1 }), { default: 128, doc: 'Columns pruned per block.' }),
  field('dampening_frac', t.nullable(t.float({ min: 0 })), { default: 0.01, doc: 'Added to the Hessian diagonal, as a fraction of mean(diag(H)).' }),
  field('preserve_sparsity_mask', t.bool(), { default: false, doc: 'Extend an existing sparsity mask instead of replacing it.' }),
  field('offload_hessians', t.bool(), { default: false, doc: 'Keep Hessians in host memory between uses.' }),
] as const;

export interface SparseGPTModifier extends FieldsOut<typeof SPARSEGPT_FIELDS> {}

export class SparseGPTModifier extends SparsityModifierBase {
  static override readonly fields: readonly FieldSpec[] = [...SPARSEGPT_FIELDS, ...SPARSITY_FIELDS, ...MODIFIER_FIELDS];

  protected get statistic(): StatisticKind {
    return 'hessianMean';
  }

  protected override createStatistics(hw: Hardware): InputStatistics {
    return new InputStatistics(hw, this.statistic, this.offloadHessians);
  }

  protected async pruneModule(state: State, module: Module, stat: { tensor: Tensor; samples: number }, sparsity: number): Promise<number> {
    const hw = requireHardware(state, this.type);
    const { n, m } = this.pruneNM;
    const w = await weightCopy(hw, module);
    state.loggers.info(`Sparsifying ${module.name} using ${stat.samples} samples`, { modifier: this.type, layer: module.name });
    const r = await sparseGptLayer(hw, w, stat.tensor, {
      sparsity,
      pruneN: n,
      pruneM: m,
      blockSize: this.blockSize,
      dampFrac: this.dampeningFrac ?? 0,
      preserveSparsityMask: this.preserveSparsityMask,
    });
    w.dispose();
    const { loss, failed } = await readGptqOutcome(r);
    if (failed) {
      state.loggers.warning(
        'Failed to invert hessian due to numerical instability. Consider increasing SparseGPTModifier.dampening_frac, increasing the number of calibration samples, or shuffling the calibration dataset',
        { modifier: this.type, layer: module.name },
      );
    }
    module.getParameter('weight')!.set(r.weight);
    r.losses.dispose();
    r.status.dispose();
    return loss;
  }
}
