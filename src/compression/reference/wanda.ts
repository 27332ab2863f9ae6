/**
 * float64 references of Wanda (llm-compressor.md §6.3;
 * modifiers/pruning/wanda/wanda_sparsify.py) and of magnitude pruning
 * (modifiers/pruning/utils/pytorch/mask_factory.py `unstructured_pruning`,
 * plus N:M groups). Metrics are formed in f32 as torch does.
 */
import { smallestIndices } from './sparsegpt.js';

const f = Math.fround;

/** Wanda's metric |W|·sqrt(S) in f32, [rows, cols]. */
export function wandaMetric(w: ArrayLike<number>, rows: number, cols: number, s: ArrayLike<number>): Float64Array {
  const root = Array.from({ length: cols }, (_, j) => f(Math.sqrt(f(s[j]))));
  const m = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) m[r * cols + j] = f(Math.abs(f(w[r * cols + j])) * root[j]);
  return m;
}

/**
 * Pruning mask from a metric: unstructured keeps per row all but the
 * int(cols·sparsity) smallest (stable: ties by index); N:M marks the N
 * smallest of each M consecutive columns per row (ties by index).
 */
export function rowwiseMask(metric: ArrayLike<number>, rows: number, cols: number, sparsity: number, pruneN: number, pruneM: number): Uint8Array {
  const mask = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const row = Array.from({ length: cols }, (_, j) => metric[r * cols + j]);
    if (pruneN !== 0) {
      for (let g = 0; g < cols; g += pruneM) {
        for (const c of smallestIndices(row.slice(g, g + pruneM), pruneN)) mask[r * cols + g + c] = 1;
      }
    } else {
      for (const c of smallestIndices(row, Math.floor(cols * sparsity))) mask[r * cols + c] = 1;
    }
  }
  return mask;
}

/** Wanda: zero the masked weights (no weight update). */
export function wandaReference(w: ArrayLike<number>, rows: number, cols: number, s: ArrayLike<number>, sparsity: number, pruneN: number, pruneM: number): { weight: Float64Array; mask: Uint8Array } {
  const mask = rowwiseMask(wandaMetric(w, rows, cols, s), rows, cols, sparsity, pruneN, pruneM);
  return { weight: Float64Array.from(w, (v, i) => (mask[i] ? 0 : f(v))), mask };
}

/**
 * Magnitude pruning of one or several tensors against one threshold: the
 * k-th smallest |w| over all of them, k = int(sparsity·numel) (1-based, as
 * `topk(k, largest=False)[-1]`); every |w| ≤ threshold is pruned (ties
 * included). k = 0 prunes nothing.
 */
export function magnitudeThresholdMask(tensors: readonly ArrayLike<number>[], sparsity: number): Uint8Array[] {
  const all: number[] = [];
  for (const t of tensors) for (let i = 0; i < t.length; i++) all.push(Math.abs(f(t[i])));
  const k = Math.floor(sparsity * all.length);
  if (k === 0) return tensors.map((t) => new Uint8Array(t.length));
  const thresh = all.sort((a, b) => a - b)[k - 1];
  return tensors.map((t) => Uint8Array.from({ length: t.length }, (_, i) => (Math.abs(f(t[i])) <= thresh ? 1 : 0)));
}
