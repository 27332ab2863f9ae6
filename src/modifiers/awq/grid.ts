/**
 * AWQ's search grid and candidate scales (llm-compressor
 * `AWQModifier._get_grid_search_params` and the head of
 * `_compute_best_scale`, reference §6.5 steps 4–5).
 *
 * The candidate scales are O(grid × channels) work on two read-back
 * statistics vectors, so they are computed here in float64 and rounded once
 * to f32 — the same bits for the same statistics on every device, which the
 * rounding decisions of Q(W·s) then inherit (GPU pow/log are only accurate to
 * a few ulp, enough to flip codes).
 */

/** One grid point: the exponent α, and whether the weight term (duo scaling) is used. */
export interface GridPoint {
  readonly ratio: number;
  readonly duo: boolean;
}

/**
 * The (α, duo) points tried, in order (ties keep the first):
 * - `true`: the identity (α = 0 without the weight term) first, then
 *   α = k/(n−2) with duo scaling for k = 0 … n−2;
 * - `false`: α = k/(n−1) for k = 0 … n−1, activations only;
 * - `"both"`: ⌊n/2⌋ ratios k/(⌊n/2⌋−1), each without then with duo scaling.
 * Grids whose step would divide by zero in llm-compressor are an error here.
 */
export function awqGridPoints(nGrid: number, duoScaling: boolean | 'both'): GridPoint[] {
  if (!Number.isInteger(nGrid) || nGrid < 1) throw new RangeError(`n_grid must be a positive integer, got ${nGrid}`);
  if (duoScaling === 'both') {
    const n = Math.trunc(nGrid / 2);
    if (n < 2) throw new RangeError(`n_grid = ${nGrid} with duo_scaling "both" gives ${n} ratio(s) per half; it needs n_grid ≥ 4`);
    const out: GridPoint[] = [];
    for (let k = 0; k < n; k++) for (const duo of [false, true]) out.push({ ratio: k / (n - 1), duo });
    return out;
  }
  if (duoScaling === false) {
    if (nGrid < 2) throw new RangeError(`n_grid = ${nGrid} with duo_scaling false divides by n_grid − 1 = 0; it needs n_grid ≥ 2`);
    return Array.from({ length: nGrid }, (_, k) => ({ ratio: k / (nGrid - 1), duo: false }));
  }
  if (nGrid === 2) throw new RangeError('n_grid = 2 with duo_scaling true divides by n_grid − 2 = 0; use n_grid = 1 (identity only) or ≥ 3');
  return [{ ratio: 0, duo: false }, ...Array.from({ length: nGrid - 1 }, (_, k) => ({ ratio: k / (nGrid - 2), duo: true }))];
}

/** x^y for x ≥ 0 with torch's edge values (x^0 = 1, also for x = 0). */
function powTorch(x: number, y: number): number {
  return y === 0 ? 1 : Math.pow(x, y);
}

/** The statistics the scales are computed from, as the GPU accumulated them. */
export interface ScaleStatistics {
  /** Σ|x| per channel over `tokens` tokens. */
  readonly xSum: Float32Array;
  readonly tokens: number;
  /** Σ over the quantized balance layers' rows of |W| / (group max + 1e-6), per channel, and the rows summed; needed for duo points. */
  readonly wSum?: Float32Array;
  readonly wRows?: number;
}

/**
 * The scales of every grid point, `[grid.length × channels]` f32:
 * mean|x|^α / (w_mean^(1−α) + 1e-4) with duo scaling, else mean|x|^α;
 * clamped ≥ 1e-4; divided by √(max · min); inf/NaN → 1.
 */
export function awqCandidateScales(stats: ScaleStatistics, grid: readonly GridPoint[]): Float32Array {
  const cols = stats.xSum.length;
  if (!(stats.tokens > 0)) throw new Error(`AWQ: no tokens behind the activation statistics (count ${stats.tokens})`);
  const duo = grid.some((g) => g.duo);
  if (duo && !(stats.wSum && stats.wRows && stats.wRows > 0)) throw new Error('AWQ: duo-scaling grid points need the weight means of at least one quantized balance layer');
  const xMean = Float64Array.from(stats.xSum, (v) => v / stats.tokens);
  const wMean = duo ? Float64Array.from(stats.wSum!, (v) => v / stats.wRows!) : undefined;
  const out = new Float32Array(grid.length * cols);
  const s = new Float64Array(cols);
  grid.forEach((p, g) => {
    let max = -Infinity;
    let min = Infinity;
    for (let c = 0; c < cols; c++) {
      let v = powTorch(xMean[c], p.ratio);
      if (p.duo) v = v / (powTorch(wMean![c], 1 - p.ratio) + 1e-4);
      v = Math.max(v, 1e-4);
      s[c] = v;
      if (v > max) max = v;
      if (v < min) min = v;
    }
    const norm = Math.sqrt(max * min);
    for (let c = 0; c < cols; c++) {
      const v = s[c] / norm;
      out[g * cols + c] = Number.isFinite(v) ? v : 1;
    }
  });
  return out;
}
