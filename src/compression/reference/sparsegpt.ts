/**
 * float64 reference of llm-compressor's SparseGPT `sparsify_weight`
 * (llm-compressor.md §6.2; modifiers/pruning/sparsegpt/sgpt_sparsify.py):
 * per-block thresholds (unstructured) or per-group N smallest (N:M) on
 * w²/d², then the same OBS error propagation as GPTQ. The selection scores
 * are computed with f32 rounding (w², d², one division), as torch does, so a
 * GPU given the same inputs selects the same mask.
 */
import { inverseHessianUpper } from './linalg.js';

export interface SparseGptReferenceOptions {
  sparsity: number;
  /** N:M (prune N of every M); pruneN = 0 (mask_structure "0:0") is unstructured. */
  pruneN: number;
  pruneM: number;
  blockSize: number;
  dampFrac: number;
  preserveSparsityMask: boolean;
}

export interface SparseGptReferenceResult {
  weight: Float64Array;
  /** Pruned positions (1 = zeroed by the mask). */
  mask: Uint8Array;
  loss: number;
  ok: boolean;
}

const f = Math.fround;

/** The OBS saliency w²/d² in f32 (torch: W1**2 / diag(Hinv1)**2). */
export function saliency(w: number, d: number): number {
  return f(f(f(w) * f(w)) / f(f(d) * f(d)));
}

/**
 * Indices of the `n` smallest of `values`, ties broken by lower index (the
 * order torch.topk(largest=False) gives on CPU is unspecified for ties).
 */
export function smallestIndices(values: readonly number[], n: number): number[] {
  return values
    .map((v, i) => [v, i] as const)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
    .slice(0, n)
    .map((p) => p[1]);
}

/**
 * SparseGPT on `w` [rows, cols] with averaged Hessian `h`. With `u` given,
 * that upper factor replaces the one computed from `h` (tests feed the GPU's
 * factor to isolate the loop).
 */
export function sparseGptReference(
  wIn: ArrayLike<number>,
  rows: number,
  cols: number,
  h: ArrayLike<number>,
  o: SparseGptReferenceOptions,
  uGiven?: ArrayLike<number>,
): SparseGptReferenceResult {
  const w = Float64Array.from(wIn, (v) => f(v));
  const inv = inverseHessianUpper(Float64Array.from(h), cols, o.dampFrac);
  const u = uGiven ? Float64Array.from(uGiven) : inv.u;
  for (let c = 0; c < cols; c++) if (inv.dead[c]) for (let r = 0; r < rows; r++) w[r * cols + c] = 0;
  let existing: Uint8Array | undefined;
  if (o.preserveSparsityMask) {
    existing = Uint8Array.from(w, (v) => (v === 0 ? 1 : 0));
    const current = existing.reduce((a, b) => a + b, 0) / w.length;
    if (current > o.sparsity) throw new Error('The target sparsity is lower than the sparsity of the base model');
  }
  const mask = new Uint8Array(rows * cols);
  let loss = 0;
  for (let i1 = 0; i1 < cols; i1 += o.blockSize) {
    const i2 = Math.min(i1 + o.blockSize, cols);
    const count = i2 - i1;
    const m1 = new Uint8Array(rows * count);
    if (existing) for (let r = 0; r < rows; r++) for (let i = 0; i < count; i++) m1[r * count + i] = existing[r * cols + i1 + i];
    if (o.pruneN === 0) {
      const k = Math.floor(rows * count * o.sparsity);
      const already = m1.reduce((a, b) => a + b, 0);
      if (!existing || k > already) {
        const tmp: number[] = [];
        for (let r = 0; r < rows; r++) {
          for (let i = 0; i < count; i++) {
            const kept = !existing || !existing[r * cols + i1 + i];
            tmp.push(kept ? saliency(w[r * cols + i1 + i], u[(i1 + i) * cols + i1 + i]) : 0);
          }
        }
        const thresh = [...tmp].sort((a, b) => a - b)[k];
        for (let e = 0; e < tmp.length; e++) m1[e] = tmp[e] <= thresh ? 1 : 0;
      }
    }
    const err = new Float64Array(rows * count);
    for (let i = 0; i < count; i++) {
      const col = i1 + i;
      const d = u[col * cols + col];
      for (let r = 0; r < rows; r++) {
        if (o.pruneN !== 0 && i % o.pruneM === 0) {
          const width = Math.min(o.pruneM, count - i);
          const tmp: number[] = [];
          for (let c = 0; c < width; c++) {
            const s = saliency(w[r * cols + col + c], u[(col + c) * cols + col + c]);
            tmp.push(existing && existing[r * cols + col + c] ? 0 : s);
          }
          for (const c of smallestIndices(tmp, o.pruneN)) m1[r * count + i + c] = 1;
        }
        const x = w[r * cols + col];
        const qv = m1[r * count + i] ? 0 : x;
        loss += ((x - qv) * (x - qv)) / (d * d) / 2;
        const e = (x - qv) / d;
        err[r * count + i] = e;
        w[r * cols + col] = qv;
        mask[r * cols + col] = m1[r * count + i];
        for (let j = i + 1; j < count; j++) w[r * cols + i1 + j] -= e * u[col * cols + i1 + j];
      }
    }
    for (let r = 0; r < rows; r++) {
      for (let j = i2; j < cols; j++) {
        if (existing && existing[r * cols + j]) continue;
        let s = 0;
        for (let t = 0; t < count; t++) s += err[r * count + t] * u[(i1 + t) * cols + j];
        w[r * cols + j] -= s;
      }
    }
  }
  return { weight: w, mask, loss, ok: inv.ok };
}
