/**
 * Plain-TypeScript float64 reference of the channel statistics and of
 * SmoothQuant's scales (llm-compressor.md §6.4): the specification the GPU
 * kernels and the modifier are tested against. Short and slow on purpose.
 */
import type { GroupGeometry } from '../../quantization/layout.js';

/** Per-column Σ|x|, max|x|, min and max of a row-major [rows, cols] array. */
export function referenceColumnStats(x: ArrayLike<number>, rows: number, cols: number): { absSum: Float64Array; absMax: Float64Array; min: Float64Array; max: Float64Array } {
  const absSum = new Float64Array(cols);
  const absMax = new Float64Array(cols);
  const min = new Float64Array(cols).fill(Infinity);
  const max = new Float64Array(cols).fill(-Infinity);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = x[r * cols + c];
      absSum[c] += Math.abs(v);
      absMax[c] = Math.max(absMax[c], Math.abs(v));
      min[c] = Math.min(min[c], v);
      max[c] = Math.max(max[c], v);
    }
  }
  return { absSum, absMax, min, max };
}

/** Σ over rows of |w| / (max|w| of the element's group + 1e-6), per column (AWQ's weight term before the mean). */
export function referenceNormalizedColumnSums(w: ArrayLike<number>, g: GroupGeometry): Float64Array {
  const gmax = new Float64Array(g.nGroupRows * g.nGroupCols);
  const group = (r: number, c: number) => Math.floor(r / g.groupRows) * g.nGroupCols + Math.floor(c / g.groupCols);
  for (let r = 0; r < g.rows; r++) for (let c = 0; c < g.cols; c++) gmax[group(r, c)] = Math.max(gmax[group(r, c)], Math.abs(w[r * g.cols + c]));
  const out = new Float64Array(g.cols);
  for (let r = 0; r < g.rows; r++) for (let c = 0; c < g.cols; c++) out[c] += Math.abs(w[r * g.cols + c]) / (gmax[group(r, c)] + 1e-6);
  return out;
}

/** x^y with torch's values at the edges (x^0 = 1, 0^y = 0 for y > 0). */
function pow(x: number, y: number): number {
  return y === 0 ? 1 : x ** y;
}

/**
 * SmoothQuant scales from the activation range and the balance layers'
 * column max|W| (max over the layers):
 * act^α / (2·wmax)^(1−α) (act where wmax = 0), or act / log2(2 + act); floor 1e-5.
 */
export function referenceSmoothQuantScales(min: ArrayLike<number>, max: ArrayLike<number>, weightAbsMax: ArrayLike<number>, alpha: number, algorithm: 'smoothquant' | 'log_equalization'): Float64Array {
  const out = new Float64Array(min.length);
  for (let c = 0; c < out.length; c++) {
    const act = max[c] - min[c];
    let s: number;
    if (algorithm === 'log_equalization') s = act / Math.log2(2 + act);
    else {
      const w = 2 * weightAbsMax[c];
      s = w > 0 ? pow(act, alpha) / pow(w, 1 - alpha) : act;
    }
    out[c] = Math.max(s, 1e-5);
  }
  return out;
}

/** A copy of row-major [rows, cols] `w` with column j multiplied by s_j. */
export function referenceScaleColumns(w: ArrayLike<number>, rows: number, cols: number, s: ArrayLike<number>): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = w[r * cols + c] * s[c];
  return out;
}

/** A copy of row-major [rows, cols] `w` with rows firstRow… divided by s. */
export function referenceDivideRows(w: ArrayLike<number>, rows: number, cols: number, s: ArrayLike<number>, firstRow = 0): Float64Array {
  const out = Float64Array.from(w);
  for (let r = firstRow; r < firstRow + s.length; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = w[r * cols + c] / s[r - firstRow];
  return out;
}
