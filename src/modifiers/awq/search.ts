/**
 * AWQ's per-mapping grid search on the GPU (llm-compressor
 * `AWQModifier._compute_best_scale`, reference §6.5 steps 3–5):
 *
 *   w_mean  = mean over the quantized balance layers' rows of |W| / (max|W| of its group + 1e-6)   (duo points)
 *   s(α)    = mean|x|^α / (w_mean^(1−α) + 1e-4)  or  mean|x|^α;  clamp ≥ 1e-4;  s /= √(max s · min s)
 *   W_q     = Q(W · s) / s   for every balance layer with a scheme (memoryless min-max qparams)
 *   loss(α) = Σ (y_fp − parent(x; W_q))² / numel
 *
 * The statistics (Σ|x|, and Σ of the normalised |W| for duo points) are
 * reduced on the GPU and read back once; the candidate scales of the whole
 * grid are computed from them in float64 (./grid.ts) and uploaded once. Each
 * loss is reduced on the GPU in a fixed order and the losses are read back
 * once per mapping; the first grid point with the smallest finite loss wins,
 * so the result is the same on every run.
 */
import type { Module } from '../../core/model.js';
import type { Hardware } from '../../gpu/hardware.js';
import { Tensor } from '../../gpu/tensor.js';
import type { QuantizationArgs } from '../../quantization/args.js';
import { groupGeometry } from '../../quantization/layout.js';
import type { ComputeDtype } from '../../quantization/numerics.js';
import { observeGlobalStats, quantizeWeightGpu } from '../../quantization/quantizeWeight.js';
import { normalizedColumnSums, scaleColumns } from '../smoothquant/kernels.js';
import { cloneTensor, commitParameter } from '../smoothquant/weights.js';
import { awqCandidateScales, type GridPoint, type ScaleStatistics } from './grid.js';
import { SquaredErrorSum } from './kernels.js';

/** Balance layers whose NVFP4 global scale is shared (llm-compressor `fuse_weight_observers`). */
const FUSED_SETS: readonly (readonly string[])[] = [['q_proj', 'k_proj', 'v_proj'], ['gate_proj', 'up_proj'], ['w1', 'w3']];

/** A balance layer in the search. */
export interface SearchLayer {
  readonly module: Module;
  /** Weight args its quantizer uses (observer memoryless_minmax), or null when nothing quantizes it. */
  readonly args: QuantizationArgs | null;
  /** Its original f32 weight: a private copy for quantized layers (their parameter is overwritten per grid point). */
  readonly original: Tensor;
}

export interface GridSearchInput {
  /** Smooth layer name, for messages. */
  readonly name: string;
  readonly layers: readonly SearchLayer[];
  /** Per-channel Σ|x| of the balance layers' input over `tokens` tokens. */
  readonly xSum: GPUBuffer;
  readonly tokens: number;
  readonly cols: number;
  readonly grid: readonly GridPoint[];
  /** dtype the quantizer computes qparams in (the model's). */
  readonly dtype: ComputeDtype;
  /** The parent's unquantized outputs, one per batch. */
  readonly fpOutputs: readonly Tensor[];
  /** Runs the parent on batch `b` with the balance weights currently set; the caller owns the result. */
  runParent(b: number): Promise<Tensor>;
}

export interface GridSearchResult {
  readonly bestIndex: number;
  /** Mean squared error per grid point (NaN or ±Inf where the output was not finite). */
  readonly losses: Float64Array;
  /** The best scales, [cols] (the caller owns the tensor). */
  readonly scales: Tensor;
  /** The scales of every grid point, [grid × cols] (host copy). */
  readonly candidates: Float32Array;
  /** The statistics the scales came from, as read back from the GPU. */
  readonly statistics: ScaleStatistics;
}

/**
 * Reads Σ|x| back, with Σ over the quantized layers of the normalised |W|
 * per column (the duo-scaling weight term, reduced on the GPU first) when
 * `withWeights`: one readback.
 */
async function readStatistics(hw: Hardware, input: GridSearchInput, layers: readonly SearchLayer[], withWeights: boolean): Promise<{ xSum: Float32Array; wSum?: Float32Array; wRows: number }> {
  const { cols } = input;
  const staging = hw.pool.acquire(8 * cols, undefined, 'wgc-awq-statistics');
  try {
    hw.batcher.copy(input.xSum, 0, staging, 0, 4 * cols);
    let wRows = 0;
    if (withWeights) {
      const wSum = hw.pool.acquire(4 * cols, undefined, 'wgc-awq-weight-sums');
      for (const l of layers) {
        const [r, c] = l.original.shape;
        normalizedColumnSums(hw, l.original, groupGeometry(l.args!, r, c, `${l.module.name}.weight`), { buffer: wSum, accumulate: wRows > 0 });
        wRows += r;
      }
      hw.batcher.copy(wSum, 0, staging, 4 * cols, 4 * cols);
      hw.pool.releaseAfterSubmit(wSum);
    }
    const words = new Float32Array(await hw.batcher.read(staging, 0, (withWeights ? 8 : 4) * cols));
    return { xSum: words.slice(0, cols), wSum: withWeights ? words.slice(cols, 2 * cols) : undefined, wRows };
  } finally {
    hw.pool.releaseAfterSubmit(staging);
  }
}

/** Quantized layers grouped by shared NVFP4 global scale (tensor_group members of one fused set under one parent). */
function fusedSets(layers: readonly SearchLayer[]): SearchLayer[][] {
  const sets = new Map<string, SearchLayer[]>();
  for (const l of layers) {
    if (l.args?.strategy !== 'tensor_group') continue;
    const set = FUSED_SETS.findIndex((s) => s.includes(l.module.localName));
    if (set < 0) continue;
    const key = `${l.module.parent?.name ?? ''}#${set}`;
    sets.set(key, [...(sets.get(key) ?? []), l]);
  }
  return [...sets.values()].filter((s) => s.length > 1);
}

/**
 * Runs the search. Leaves every quantized balance layer's weight parameter
 * holding Q(W·s)/s of the last grid point: the caller applies the best
 * scales to the originals afterwards.
 */
export async function awqGridSearch(hw: Hardware, input: GridSearchInput): Promise<GridSearchResult> {
  const { cols, grid } = input;
  const quantized = input.layers.filter((l) => l.args);
  for (const l of input.layers) {
    if (l.original.shape.length !== 2 || l.original.shape[1] !== cols) throw new Error(`AWQ: balance layer ${l.module.name} has weight [${l.original.shape.join(', ')}], but ${input.name} feeds it ${cols} channels`);
  }
  const stats = await readStatistics(hw, input, quantized, grid.some((g) => g.duo) && quantized.length > 0);
  const statistics: ScaleStatistics = { xSum: stats.xSum, tokens: input.tokens, wSum: stats.wSum, wRows: stats.wRows };
  const candidates = awqCandidateScales(statistics, grid);
  const scales = Tensor.fromData(hw, candidates, [grid.length, cols], 'f32', { label: 'wgc-awq-grid-scales' });
  const lossSums = Tensor.empty(hw, [grid.length], 'f32', { label: 'wgc-awq-losses' });
  const sse = new SquaredErrorSum(hw);
  const fused = fusedSets(quantized);
  let numel = 0;
  for (const y of input.fpOutputs) numel += y.numel;
  try {
    for (let g = 0; g < grid.length; g++) {
      const s = { buffer: scales.buffer, offset: g * cols, length: cols };
      const scaled = new Map<SearchLayer, Tensor>();
      for (const l of quantized) {
        const ws = cloneTensor(hw, l.original, 'wgc-awq-scaled-weight');
        scaleColumns(hw, ws, s);
        scaled.set(l, ws);
      }
      const globalStats = new Map<SearchLayer, GPUBuffer>();
      for (const set of fused) {
        const stats = observeGlobalStats(hw, set.map((l) => scaled.get(l)!));
        for (const l of set) globalStats.set(l, stats);
      }
      for (const l of quantized) {
        const ws = scaled.get(l)!;
        const q = quantizeWeightGpu(hw, ws, l.args!, { name: `${l.module.name}.weight`, dtype: input.dtype, fake: true, globalStats: globalStats.get(l) });
        const fake = q.takeFake();
        q.dispose();
        ws.dispose();
        scaleColumns(hw, fake, s, { divide: true });
        commitParameter(l.module, 'weight', fake);
      }
      for (const stats of new Set(globalStats.values())) hw.pool.releaseAfterSubmit(stats);
      for (let b = 0; b < input.fpOutputs.length; b++) {
        const y = await input.runParent(b);
        sse.add(input.fpOutputs[b], y);
        y.dispose();
      }
      sse.foldInto(lossSums.buffer, g);
    }
    const raw = await lossSums.readF32();
    const losses = Float64Array.from(raw, (x) => x / numel);
    let best = -1;
    for (let g = 0; g < losses.length; g++) if (losses[g] < (best < 0 ? Infinity : losses[best])) best = g;
    if (best < 0) {
      throw new Error(
        `AWQ: no finite loss was found in the best-scales grid search for ${input.name}. This typically means NaN values are appearing in the forward pass of the parent module`,
      );
    }
    const out = Tensor.empty(hw, [cols], 'f32', { label: 'wgc-awq-best-scales' });
    hw.batcher.copy(scales.buffer, best * cols * 4, out.buffer, 0, cols * 4);
    return { bestIndex: best, losses, scales: out, candidates, statistics };
  } finally {
    scales.dispose();
    lossSums.dispose();
    sse.dispose();
  }
}
