/**
 * Dispatch wrappers of shaders/smooth.wgsl: per-channel statistics of
 * activations and weights, and the in-place channel scaling of weights and
 * norms that SmoothQuant and AWQ apply. Every statistic is reduced in a
 * fixed order (two passes, no float atomics): the same inputs give the same
 * bits on every run.
 */
import type { Hardware } from '../../gpu/hardware.js';
import { Tensor } from '../../gpu/tensor.js';
import type { GroupGeometry } from '../../quantization/layout.js';

const WG = 256;
/** Rows each row lane of `columnPartials` folds (a block is lanes × this many rows). */
const ROWS_PER_LANE = 16;

/** A per-column statistic: Σ|x|, max|x|, or min and max of x. */
export type ColumnStatistic = 'absSum' | 'absMax' | 'minMax';

/** Every entry point but the normalised column sums compiles without the group-max binding. */
const NO_NORM = { NORM: false } as const;

const OP: Record<ColumnStatistic | 'normAbsSum', number> = { absSum: 0, absMax: 1, minMax: 2, normAbsSum: 3 };

/** Where a statistic is written: `absSum`/`absMax` use `cols` floats, `minMax` uses `[min × cols, max × cols]`. */
export interface StatisticTarget {
  readonly buffer: GPUBuffer;
  /** Combine with the values already there (running statistic over calls) instead of overwriting them. */
  readonly accumulate: boolean;
}

function nextPow2(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

function check2d(x: Tensor, who: string): [number, number] {
  if (x.dtype !== 'f32' || x.shape.length !== 2) throw new Error(`${who}: expected a 2-D f32 tensor, got [${x.shape.join(', ')}] ${x.dtype}`);
  const [rows, cols] = x.shape;
  if (cols % 4 !== 0) throw new Error(`${who}: ${cols} columns is not a multiple of 4 (the channel kernels load vec4s)`);
  return [rows, cols];
}

function columnReduce(hw: Hardware, x: Tensor, op: ColumnStatistic | 'normAbsSum', target: StatisticTarget, norm?: { gmax: GPUBuffer; geometry: GroupGeometry }): void {
  const [rows, cols] = check2d(x, `column ${op}`);
  if (rows === 0) return;
  const cols4 = cols / 4;
  const tx = Math.min(16, nextPow2(cols4));
  const lanes = WG / tx;
  const rowsPerBlock = lanes * ROWS_PER_LANE;
  const colTiles = Math.ceil(cols4 / tx);
  const blocks = x.chunks.map((c) => Math.ceil(c.rows / rowsPerBlock));
  const nBlocks = blocks.reduce((a, b) => a + b, 0);
  const perStat = nBlocks * cols4;
  const two = op === 'minMax' ? 2 : 1;
  const part = hw.pool.acquire(perStat * 16 * two, undefined, 'wgc-column-partials');
  const partials = hw.kernels.get({ shader: 'smooth', entryPoint: 'columnPartials', flags: { NORM: !!norm }, constants: { OP: OP[op], TX: tx } });
  const g = norm?.geometry;
  let blockBase = 0;
  x.chunks.forEach((c, i) => {
    if (c.rows === 0) return;
    const bindings: Record<string, GPUBuffer | { buffer: GPUBuffer; size: number }> = {
      x: { buffer: c.buffer, size: c.rows * cols * 4 },
      part: { buffer: part, size: perStat * 16 * two },
    };
    if (norm) bindings.gmax = norm.gmax;
    partials.run(hw.batcher, {
      bindings,
      uniforms: {
        rows: c.rows, cols4, rowsPerBlock, colTiles, nWork: colTiles * blocks[i], blockBase, maxBase: perStat, globalRow: c.rowStart,
        groupRows: g?.groupRows ?? 1, groupCols: g?.groupCols ?? 1, nGroupCols: g?.nGroupCols ?? 1, _p0: 0,
      },
      workgroups: colTiles * blocks[i],
    });
    blockBase += blocks[i];
  });
  const fold = hw.kernels.get({ shader: 'smooth', entryPoint: 'columnFold', flags: NO_NORM, constants: { OP: OP[op] } });
  fold.run(hw.batcher, {
    bindings: { partials: { buffer: part, size: perStat * 16 * two }, dst: { buffer: target.buffer, size: cols * 4 * two } },
    uniforms: { cols4, nBlocks, maxBase: perStat, dstMaxBase: cols4, accumulate: target.accumulate ? 1 : 0, _p0: 0, _p1: 0, _p2: 0 },
    workgroups: Math.ceil(cols4 / WG),
  });
  hw.pool.releaseAfterSubmit(part);
}

/**
 * Per-column statistic of `x` ([rows, cols] f32, cols a multiple of 4,
 * possibly chunked) into `target`: Σ|x| (AWQ's activation magnitude), max|x|
 * (SmoothQuant's weight range) or min and max (SmoothQuant's activation
 * range, `[min..., max...]`).
 */
export function columnStatistic(hw: Hardware, x: Tensor, stat: ColumnStatistic, target: StatisticTarget): void {
  columnReduce(hw, x, stat, target);
}

/**
 * AWQ's normalised weight magnitude: Σ over rows of |w| / (max|w| of the
 * element's quantization group + 1e-6), per column, into `target`. The
 * groups are the weight's scale groups (`geometry`: the whole tensor, a row,
 * `group_size` columns of a row, or a block).
 */
export function normalizedColumnSums(hw: Hardware, w: Tensor, geometry: GroupGeometry, target: StatisticTarget): void {
  const [rows, cols] = check2d(w, 'normalizedColumnSums');
  if (geometry.rows !== rows || geometry.cols !== cols) throw new Error(`normalizedColumnSums: geometry of [${geometry.rows}, ${geometry.cols}] for a [${rows}, ${cols}] weight`);
  const nGroups = geometry.nGroupRows * geometry.nGroupCols;
  const gmax = hw.pool.acquire(nGroups * 4, undefined, 'wgc-group-absmax');
  hw.batcher.clear(gmax, 0, nGroups * 4);
  const kernel = hw.kernels.get({ shader: 'smooth', entryPoint: 'groupAbsMax', flags: NO_NORM });
  for (const c of w.chunks) {
    if (c.rows === 0) continue;
    const first = Math.floor(c.rowStart / geometry.groupRows);
    const last = Math.floor((c.rowStart + c.rows - 1) / geometry.groupRows);
    const nWork = (last - first + 1) * geometry.nGroupCols;
    kernel.run(hw.batcher, {
      bindings: { gw: { buffer: c.buffer, size: c.rows * cols * 4 }, groupMax: { buffer: gmax, size: nGroups * 4 } },
      uniforms: {
        rows: c.rows, cols, globalRow: c.rowStart, groupRows: geometry.groupRows, groupCols: geometry.groupCols, nGroupCols: geometry.nGroupCols,
        firstGroupRow: first, nWork,
      },
      workgroups: nWork,
    });
  }
  columnReduce(hw, w, 'normAbsSum', target, { gmax, geometry });
  hw.pool.releaseAfterSubmit(gmax);
}

/** A scale vector on the GPU: `length` floats at element `offset` of `buffer`. */
export interface ScaleVector {
  readonly buffer: GPUBuffer;
  readonly offset?: number;
  readonly length: number;
}

/**
 * In place: `w[:, j] ·= s_j`, or `/= s_j` with `divide` — the balance-layer
 * side of a smoothing (W·diag(s)), and AWQ's Q(W·s)/s.
 */
export function scaleColumns(hw: Hardware, w: Tensor, s: ScaleVector, options: { divide?: boolean } = {}): void {
  const [, cols] = check2d(w, 'scaleColumns');
  if (s.length !== cols) throw new Error(`scaleColumns: ${s.length} scales for ${cols} columns`);
  const offset = s.offset ?? 0;
  if (offset % 4 !== 0) throw new Error(`scaleColumns: scale offset ${offset} is not a multiple of 4`);
  const kernel = hw.kernels.get({ shader: 'smooth', entryPoint: 'scaleColumns', flags: NO_NORM });
  for (const c of w.chunks) {
    const count4 = (c.rows * cols) / 4;
    if (count4 === 0) continue;
    kernel.run(hw.batcher, {
      bindings: { colWeight: { buffer: c.buffer, size: count4 * 16 }, colScales: s.buffer },
      uniforms: { count4, cols4: cols / 4, sBase4: offset / 4, divide: options.divide ? 1 : 0 },
      workgroups: Math.ceil(count4 / WG),
    });
  }
}

/**
 * In place: rows `firstRow … firstRow + s.length − 1` of `w` divided by
 * (or, with `multiply`, multiplied by) `s` — the smooth-layer side of a
 * smoothing. A 1-D tensor (norm weight, bias) is one value per row.
 */
export function scaleRows(hw: Hardware, w: Tensor, s: ScaleVector, options: { firstRow?: number; multiply?: boolean } = {}): void {
  if (w.dtype !== 'f32' || (w.shape.length !== 1 && w.shape.length !== 2)) throw new Error(`scaleRows: expected a 1-D or 2-D f32 tensor, got [${w.shape.join(', ')}] ${w.dtype}`);
  const rows = w.shape[0];
  const cols = w.shape.length === 2 ? w.shape[1] : 1;
  const firstRow = options.firstRow ?? 0;
  if (firstRow < 0 || firstRow + s.length > rows) throw new Error(`scaleRows: rows ${firstRow}…${firstRow + s.length - 1} outside [0, ${rows})`);
  const kernel = hw.kernels.get({ shader: 'smooth', entryPoint: 'scaleRows', flags: NO_NORM });
  for (const c of w.chunks) {
    const count = c.rows * cols;
    if (count === 0) continue;
    kernel.run(hw.batcher, {
      bindings: { rowWeight: { buffer: c.buffer, size: c.byteLength }, rowScales: s.buffer },
      uniforms: { count, cols, rowBase: c.rowStart, firstRow, nScaled: s.length, sBase: s.offset ?? 0, divide: options.multiply ? 0 : 1, _p0: 0 },
      workgroups: Math.ceil(count / WG),
    });
  }
}

/**
 * SmoothQuant's per-channel scales (llm-compressor.md §6.4) from the running
 * `[min..., max...]` of the smooth layer's output and the balance layers'
 * column max|W| (`weightMax`, already the max over the layers): a new
 * [cols] tensor.
 */
export function smoothQuantScales(hw: Hardware, minMax: GPUBuffer, weightMax: GPUBuffer, cols: number, options: { alpha: number; algorithm: 'smoothquant' | 'log_equalization'; out?: Tensor }): Tensor {
  const out = options.out ?? Tensor.empty(hw, [cols], 'f32', { label: 'wgc-smoothquant-scales' });
  if (out.numel !== cols || out.dtype !== 'f32') throw new Error(`smoothQuantScales: out must be f32 [${cols}]`);
  const kernel = hw.kernels.get({ shader: 'smooth', entryPoint: 'smoothQuantScales', flags: NO_NORM });
  kernel.run(hw.batcher, {
    bindings: { minMax: { buffer: minMax, size: cols * 8 }, weightMax: { buffer: weightMax, size: cols * 4 }, smoothScales: out.buffer },
    uniforms: { cols, alpha: options.alpha, logEqualization: options.algorithm === 'log_equalization' ? 1 : 0, _p0: 0 },
    workgroups: Math.ceil(cols / WG),
  });
  return out;
}
