/**
 * SparseGPT for one Linear on the GPU (llm-compressor.md §6.2,
 * modifiers/pruning/sparsegpt/sgpt_sparsify.py `sparsify_weight`): dead
 * columns, dampening, the upper Cholesky factor of H⁻¹, per-block masks
 * (unstructured thresholds or N:M groups) and the OBS error propagation.
 */
import type { Hardware } from '../gpu/hardware.js';
import { Tensor } from '../gpu/tensor.js';
import { createDiagonal, dampen, recordDiagonal } from './kernels/hessian.js';
import { createCholeskyWorkspace, inverseUpperFactor } from './kernels/cholesky.js';
import { createLoopWorkspace, permuteColumns, pruneLoop } from './kernels/gptq.js';
import { blockMask, createBlockMaskWorkspace, disposeBlockMaskWorkspace, factorDiagonal, zeroMask } from './kernels/prune.js';
import { paddedSize } from './kernels/square.js';
import type { SparseGptReferenceOptions } from './reference/sparsegpt.js';

/** The float64 reference's settings, plus how large the GPU may make one buffer chunk. */
export interface SparseGptLayerOptions extends SparseGptReferenceOptions {
  maxChunkBytes?: number;
}

export interface SparseGptLayerResult {
  /** f32 [rows, cols]: the pruned and updated weight. */
  weight: Tensor;
  /** f32 [rows]: per-row loss Σ (w − q)² / d² / 2. */
  losses: Tensor;
  /** u32 [4]: status[0] ≠ 0 when the factorisation failed (identity fallback). */
  status: Tensor;
}

/**
 * Prunes `weight` (f32 [rows, cols], left unchanged) with the running-average
 * Hessian `hessian` ([np, np]; consumed).
 */
export async function sparseGptLayer(hw: Hardware, weight: Tensor, hessian: Tensor, o: SparseGptLayerOptions): Promise<SparseGptLayerResult> {
  const [rows, cols] = weight.shape;
  const np = paddedSize(cols);
  if (!(o.sparsity >= 0 && o.sparsity < 1) && o.pruneN === 0) throw new Error(`SparseGPT: sparsity must be in [0, 1), got ${o.sparsity}`);
  if (!Number.isInteger(o.blockSize) || o.blockSize < 1) throw new Error(`SparseGPT: block_size must be a positive integer, got ${o.blockSize}`);
  if (o.pruneN !== 0 && cols % o.pruneM !== 0) throw new Error(`SparseGPT: ${cols} columns are not a multiple of M=${o.pruneM} (mask_structure ${o.pruneN}:${o.pruneM})`);
  const diag = createDiagonal(hw, np);
  recordDiagonal(hw, hessian, cols, diag, true);
  dampen(hw, hessian, cols, diag, o.dampFrac);
  const cws = createCholeskyWorkspace(hw, np);
  const u = inverseUpperFactor(hw, hessian, cws, o.maxChunkBytes);
  hessian.dispose();

  const working = Tensor.empty(hw, weight.shape, 'f32', { maxChunkBytes: weight.chunks[0].rows * cols * 4 });
  const perm = Tensor.fromData(hw, Uint32Array.from({ length: np }, (_, i) => i), [np], 'u32');
  permuteColumns(hw, weight, working, perm, { dead: diag.dead });
  perm.dispose();

  const mws = createBlockMaskWorkspace(hw, rows, o.blockSize);
  let existing: Tensor | undefined;
  if (o.preserveSparsityMask) {
    existing = zeroMask(hw, working, mws.counter);
    const zeros = (await mws.counter.readU32())[0];
    if (zeros / (rows * cols) > o.sparsity) {
      throw new Error(`SparseGPT: the target sparsity ${o.sparsity} is lower than the weight's current sparsity ${(zeros / (rows * cols)).toFixed(4)}; retry with preserve_sparsity_mask: false`);
    }
  }
  const udiag = factorDiagonal(hw, u);
  const lws = createLoopWorkspace(hw, rows, np);
  pruneLoop(hw, working, u, {
    blockSize: o.blockSize, sparsity: o.sparsity, pruneN: o.pruneN, pruneM: o.pruneM, existing,
    blockMask: (b1, width) => {
      blockMask(hw, working, udiag, b1, width, o.sparsity, mws, existing);
      return mws.mask;
    },
  }, lws);
  u.dispose();
  udiag.dispose();
  existing?.dispose();
  disposeBlockMaskWorkspace(mws);
  diag.diag.dispose();
  diag.dead.dispose();
  diag.stats.dispose();
  cws.dinv.dispose();
  lws.err.dispose();
  lws.ublk.dispose();
  return { weight: working, losses: lws.losses, status: cws.status };
}
