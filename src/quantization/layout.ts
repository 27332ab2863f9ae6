import type { QuantizationArgs } from './args.js';

/**
 * How a weight `[rows, cols]` splits into scale groups: each group is a
 * rectangle of `groupRows × groupCols` elements (clipped at the edges), and
 * the scale tensor is `[nGroupRows, nGroupCols]` in row-major order
 * (compressed-tensors.md §3.0, §4.4).
 */
export interface GroupGeometry {
  readonly rows: number;
  readonly cols: number;
  readonly groupRows: number;
  readonly groupCols: number;
  readonly nGroupRows: number;
  readonly nGroupCols: number;
  /** Shape compressed-tensors gives `weight_scale`: tensor `[1]`, channel `[O,1]`, group `[O,G]`, block `[Ob,Ib]`. */
  readonly scaleShape: readonly number[];
}

/**
 * Group geometry of a 2-D weight under `args`. Group strategies need `cols`
 * to be a multiple of the group size (compressed-tensors raises otherwise,
 * and llm-compressor's divisibility check rejects it before); the error says
 * which tensor and what to do.
 */
export function groupGeometry(args: QuantizationArgs, rows: number, cols: number, tensor = 'weight'): GroupGeometry {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows <= 0 || cols <= 0) throw new RangeError(`${tensor}: [${rows}, ${cols}] is not a 2-D weight shape`);
  switch (args.strategy) {
    case 'tensor':
      return { rows, cols, groupRows: rows, groupCols: cols, nGroupRows: 1, nGroupCols: 1, scaleShape: [1] };
    case 'channel':
      return { rows, cols, groupRows: 1, groupCols: cols, nGroupRows: rows, nGroupCols: 1, scaleShape: [rows, 1] };
    case 'group':
    case 'tensor_group': {
      const gs = args.groupSize as number;
      // compressed-tensors allows one partial group when the layer is narrower than
      // the group (scale [O, 1]); it refuses only I ≥ group_size with I % group_size ≠ 0.
      if (cols < gs) return { rows, cols, groupRows: 1, groupCols: cols, nGroupRows: rows, nGroupCols: 1, scaleShape: [rows, 1] };
      if (cols % gs !== 0) {
        throw new RangeError(
          `${tensor}: ${cols} input columns are not a multiple of group_size ${gs}; use strategy "channel", a group size that divides ${cols}, or add the layer to ignore`,
        );
      }
      return { rows, cols, groupRows: 1, groupCols: gs, nGroupRows: rows, nGroupCols: cols / gs, scaleShape: [rows, cols / gs] };
    }
    case 'block': {
      const [bh, bw] = args.blockStructure as readonly [number, number];
      const nr = Math.ceil(rows / bh);
      const nc = Math.ceil(cols / bw);
      return { rows, cols, groupRows: bh, groupCols: bw, nGroupRows: nr, nGroupCols: nc, scaleShape: [nr, nc] };
    }
    default:
      throw new RangeError(`${tensor}: weights cannot be quantized with strategy "${args.strategy}"`);
  }
}

/** Number of scale groups. */
export function groupCount(g: GroupGeometry): number {
  return g.nGroupRows * g.nGroupCols;
}

/** Range of the quantized values (`calculate_range`, §4.1). */
export function quantRange(args: QuantizationArgs): { qmin: number; qmax: number } {
  if (args.type === 'int') return { qmin: -(2 ** (args.numBits - 1)), qmax: 2 ** (args.numBits - 1) - 1 };
  if (args.numBits === 8) return { qmin: -448, qmax: 448 };
  if (args.numBits === 4) return { qmin: -6, qmax: 6 };
  throw new RangeError(`float quantization supports 4 or 8 bits, not ${args.numBits}`);
}

/** Settings of the mse observer (llm-compressor `MemorylessMSEObserver` defaults). */
export interface MseSettings {
  readonly maxshrink: number;
  readonly grid: number;
  readonly norm: number;
  readonly patience: number;
  readonly expand: number;
}

/** Shrink steps the GPU search supports (one bit per step in a u32 mask). */
export const MAX_MSE_STEPS = 32;

/**
 * The mse observer's settings from `args.observer` / `observer_kwargs`, or
 * null for min-max observers. `nvfp4_expanded_mse` uses its own defaults
 * (expand 1.8, grid 200), which exceed {@link MAX_MSE_STEPS} unless overridden.
 */
export function mseSettings(args: QuantizationArgs, tensor = 'weight'): MseSettings | null {
  const obs = args.observer;
  if (obs === null || obs === 'minmax' || obs === 'memoryless_minmax' || obs === 'static_minmax') return null;
  if (obs === 'imatrix_mse') throw new RangeError(`${tensor}: observer "imatrix_mse" weighs errors by activation statistics and needs calibration data`);
  const kw = args.observerKwargs;
  const num = (k: string, d: number): number => {
    const v = kw[k];
    if (v === undefined) return d;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`${tensor}: observer_kwargs.${k} must be a number`);
    return v;
  };
  const expanded = obs === 'nvfp4_expanded_mse';
  const s: MseSettings = {
    maxshrink: num('maxshrink', expanded ? 1 - 0.8 / 1.8 : 0.2),
    grid: num('grid', expanded ? 200 : 100),
    norm: num('norm', 2.4),
    patience: num('patience', expanded ? 1000 : 5),
    expand: num('expand', expanded ? 1.8 : 1),
  };
  if (s.expand < 1) throw new RangeError(`${tensor}: observer_kwargs.expand must be at least 1, got ${s.expand}`);
  if (!(s.grid > 0) || !(s.norm > 0) || !(s.patience >= 1)) throw new RangeError(`${tensor}: observer_kwargs grid, norm and patience must be positive`);
  const steps = Math.trunc(s.maxshrink * s.grid);
  if (steps < 1 || steps > MAX_MSE_STEPS) {
    throw new RangeError(`${tensor}: the mse observer searches int(maxshrink·grid) = ${steps} shrink steps; 1 to ${MAX_MSE_STEPS} are supported`);
  }
  return s;
}

/** Shrink factors `p_i = 1 − i/grid` of the search, rounded to f32 as torch multiplies them in. */
export function mseShrinkFactors(s: MseSettings): Float32Array {
  const steps = Math.trunc(s.maxshrink * s.grid);
  const out = new Float32Array(steps);
  for (let i = 0; i < steps; i++) out[i] = 1 - i / s.grid;
  return out;
}
