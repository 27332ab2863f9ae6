/**
 * Plain-TypeScript float64 reference of AWQ's grid search (llm-compressor.md
 * §6.5 steps 3–5): the specification the GPU search is tested against.
 * Weights and the scale vector are held in f32 as a model holds them, so the
 * scales are rounded to f32 and W·s is rounded to f32 before it is quantized
 * (with src/quantization's reference quantizer); everything else is float64.
 */
import type { QuantizationArgs } from '../../quantization/args.js';
import { groupGeometry } from '../../quantization/layout.js';
import type { ComputeDtype } from '../../quantization/numerics.js';
import { referenceQuantize } from '../../quantization/reference.js';
import { referenceNormalizedColumnSums } from '../smoothquant/reference.js';
import type { GridPoint } from './grid.js';

/** A balance layer: its f32 weight [rows, cols], and its weight args (null: not quantized). */
export interface ReferenceLayer {
  readonly w: Float32Array;
  readonly rows: number;
  readonly cols: number;
  readonly args: QuantizationArgs | null;
  /** Layers with the same key share an NVFP4 global scale (a fused q/k/v or gate/up set). */
  readonly fusedKey?: string;
}

/** Mean over the quantized layers' rows of |W| / (group max + 1e-6), per column (`_compute_layer_means`). */
export function referenceWeightMean(layers: readonly ReferenceLayer[]): Float64Array | undefined {
  const q = layers.filter((l) => l.args);
  if (!q.length) return undefined;
  const sum = new Float64Array(q[0].cols);
  let rows = 0;
  for (const l of q) {
    const part = referenceNormalizedColumnSums(l.w, groupGeometry(l.args!, l.rows, l.cols));
    for (let c = 0; c < sum.length; c++) sum[c] += part[c];
    rows += l.rows;
  }
  return sum.map((v) => v / rows);
}

function pow(x: number, y: number): number {
  return y === 0 ? 1 : Math.pow(x, y);
}

/** The scales of one grid point: clamp ≥ 1e-4, divide by √(max·min), inf/NaN → 1. */
export function referenceGridScales(xMean: ArrayLike<number>, wMean: ArrayLike<number> | undefined, point: GridPoint): Float64Array {
  const s = new Float64Array(xMean.length);
  for (let c = 0; c < s.length; c++) {
    let v = pow(xMean[c], point.ratio);
    if (point.duo) v = v / (pow(wMean![c], 1 - point.ratio) + 1e-4);
    s[c] = Math.max(v, 1e-4);
  }
  let mx = -Infinity;
  let mn = Infinity;
  for (const v of s) {
    mx = Math.max(mx, v);
    mn = Math.min(mn, v);
  }
  const norm = Math.sqrt(mx * mn);
  return s.map((v) => {
    const r = v / norm;
    return Number.isFinite(r) ? r : 1;
  });
}

/** Q(fround(W·s)) / s of one layer (memoryless min-max qparams of the scaled weight). */
export function referenceScaledQuantize(l: ReferenceLayer, s: ArrayLike<number>, dtype: ComputeDtype, fusedAbsMax?: number): Float64Array {
  const ws = scaledWeight(l, s);
  const fake = referenceQuantize(ws, l.rows, l.cols, l.args!, { dtype, fusedAbsMax }).fake;
  for (let i = 0; i < fake.length; i++) fake[i] /= s[i % l.cols];
  return fake;
}

function scaledWeight(l: ReferenceLayer, s: ArrayLike<number>): Float32Array {
  const ws = new Float32Array(l.w.length);
  for (let i = 0; i < ws.length; i++) ws[i] = l.w[i] * s[i % l.cols];
  return ws;
}

export interface ReferenceSearchInput {
  readonly xMean: ArrayLike<number>;
  /** The duo-scaling weight term; computed from the layers when absent. */
  readonly wMean?: ArrayLike<number>;
  readonly layers: readonly ReferenceLayer[];
  readonly grid: readonly GridPoint[];
  readonly dtype?: ComputeDtype;
  /** The parent's output (all batches, concatenated) with the given balance weights (one per layer, in order). */
  parent(weights: readonly ArrayLike<number>[]): Float64Array;
}

export interface ReferenceSearchResult {
  readonly losses: Float64Array;
  readonly bestIndex: number;
  /** Scales of every grid point (f32 values). */
  readonly scales: readonly Float64Array[];
}

/** The grid search: loss per point, first smallest finite loss wins. */
export function referenceAwqSearch(input: ReferenceSearchInput): ReferenceSearchResult {
  const dtype = input.dtype ?? 'f32';
  const fp = input.parent(input.layers.map((l) => l.w));
  const wMean = input.grid.some((g) => g.duo) ? (input.wMean ?? referenceWeightMean(input.layers)) : undefined;
  const losses = new Float64Array(input.grid.length);
  const scales: Float64Array[] = [];
  let best = -1;
  input.grid.forEach((point, g) => {
    // The scale vector is held in f32, like the weights it multiplies.
    const s = referenceGridScales(input.xMean, wMean, point).map(Math.fround);
    scales.push(s);
    const fused = new Map<string, number>();
    for (const l of input.layers) {
      if (!l.args || l.args.strategy !== 'tensor_group' || !l.fusedKey) continue;
      let m = fused.get(l.fusedKey) ?? 0;
      for (const v of scaledWeight(l, s)) m = Math.max(m, Math.abs(v));
      fused.set(l.fusedKey, m);
    }
    const weights = input.layers.map((l) => (l.args ? referenceScaledQuantize(l, s, dtype, l.fusedKey ? fused.get(l.fusedKey) : undefined) : l.w));
    const y = input.parent(weights);
    let e = 0;
    for (let i = 0; i < y.length; i++) e += (fp[i] - y[i]) ** 2;
    losses[g] = e / y.length;
    if (losses[g] < (best < 0 ? Infinity : losses[best])) best = g;
  });
  if (best < 0) throw new Error('reference AWQ: no finite loss in the grid');
  return { losses, bestIndex: best, scales };
}
