/**
 * Observers of static activation quantization (llm-compressor.md §1.3,
 * observers/min_max.py, moving_base.py, static_minmax): each forward's
 * activation is reduced to its tensor-wide min/max on the GPU and folded into
 * per-tensor running state there, so calibration reads nothing back until the
 * qparams are computed (compressed-tensors' `calculate_qparams` /
 * `generate_gparam`, src/quantization/reference.ts).
 *
 *   memoryless_minmax  the last batch's min/max;
 *   static_minmax      the running min and max over all batches;
 *   minmax             a moving average: the first batch as is, then
 *                      past·(1 − c) + current·c with `averaging_constant` c
 *                      (default 0.01; 1.0 means no averaging).
 */
import type { Hardware } from '../gpu/hardware.js';
import { Tensor } from '../gpu/tensor.js';
import type { QuantizationArgs } from './args.js';
import type { GroupGeometry } from './layout.js';
import { f32FromBits, fromOrderedKey, roundTo, type ComputeDtype } from './numerics.js';
import { calculateQParams, globalScaleFromAbsMax, referenceContext } from './reference.js';
import { initStats, observeMinMax } from './kernels/observe.js';
import { emaMinMax } from './kernels/calibrate.js';

/** Observers that can calibrate a static activation scale. */
export type ActivationObserverKind = 'memoryless_minmax' | 'static_minmax' | 'minmax';

/** An observer and its setting. */
export interface ActivationObserverSpec {
  readonly kind: ActivationObserverKind;
  /** `averaging_constant` of `minmax`. */
  readonly averagingConstant: number;
}

/** llm-compressor's default `averaging_constant`. */
export const DEFAULT_AVERAGING_CONSTANT = 0.01;

/**
 * The observer of static activation args, or an error naming `where` for
 * observers that are not available for activations here (the mse family).
 */
export function activationObserverSpec(args: QuantizationArgs, where: string): ActivationObserverSpec {
  const name = args.observer ?? 'memoryless_minmax';
  const kind = name === 'memoryless' ? 'memoryless_minmax' : name;
  if (kind !== 'memoryless_minmax' && kind !== 'static_minmax' && kind !== 'minmax') {
    throw new Error(`${where}: the ${JSON.stringify(name)} observer is not available for activations (use minmax, static_minmax or memoryless_minmax)`);
  }
  const c = args.observerKwargs.averaging_constant ?? DEFAULT_AVERAGING_CONSTANT;
  if (typeof c !== 'number' || !(c > 0 && c <= 1)) throw new Error(`${where}: observer_kwargs.averaging_constant must be a number in (0, 1], got ${JSON.stringify(c)}`);
  return { kind, averagingConstant: c };
}

/** The observed range of one tensor. */
export interface ObservedRange {
  readonly min: number;
  readonly max: number;
  /** Batches observed. */
  readonly samples: number;
}

interface Entry {
  readonly spec: ActivationObserverSpec;
  /** u32 [4]: batch min/max keys, then the moving average's f32 min/max. */
  readonly state: Tensor;
  samples: number;
}

/**
 * Running activation statistics, one per key (a module's input or output).
 * `observe` only records GPU work; `range` reads one key's state back.
 */
export class ActivationStatistics<K> {
  private readonly entries = new Map<K, Entry>();

  constructor(private readonly hw: Hardware) {}

  /** Adds one forward's activation `x` (f32 [tokens, features]; reduced over every element). */
  observe(key: K, x: Tensor, spec: ActivationObserverSpec, what = 'activation'): void {
    if (x.dtype !== 'f32') throw new Error(`${what}: calibration activation is ${x.dtype}; expected f32`);
    if (x.shape.length !== 2) throw new Error(`${what}: calibration activation of shape [${x.shape.join(', ')}] is not 2-D [tokens, features]`);
    if (x.numel === 0) return;
    let e = this.entries.get(key);
    if (!e) {
      e = { spec, state: Tensor.empty(this.hw, [4], 'u32', { label: 'activation-observer' }), samples: 0 };
      this.entries.set(key, e);
    }
    const first = e.samples === 0;
    const memoryless = spec.kind === 'memoryless_minmax' || (spec.kind === 'minmax' && spec.averagingConstant === 1);
    // static_minmax keeps folding batches into the same keys; the others start from each batch's own.
    if (first || spec.kind !== 'static_minmax') initStats(this.hw, e.state.buffer, 0, 1);
    const [rows, cols] = x.shape;
    const whole: GroupGeometry = { rows, cols, groupRows: rows, groupCols: cols, nGroupRows: 1, nGroupCols: 1, scaleShape: [1] };
    observeMinMax(this.hw, x, whole, e.state.buffer, 0);
    if (spec.kind === 'minmax' && !memoryless) emaMinMax(this.hw, e.state.buffer, first, spec.averagingConstant);
    e.samples++;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** Batches observed for `key` (0 when never observed). */
  samples(key: K): number {
    return this.entries.get(key)?.samples ?? 0;
  }

  /** Reads the observed range of `key`; undefined when it was never observed. */
  async range(key: K): Promise<ObservedRange | undefined> {
    const e = this.entries.get(key);
    if (!e) return undefined;
    const words = await e.state.readU32();
    const memoryless = e.spec.kind === 'memoryless_minmax' || (e.spec.kind === 'minmax' && e.spec.averagingConstant === 1);
    if (e.spec.kind === 'minmax' && !memoryless) {
      const f = new Float32Array(words.buffer, words.byteOffset + 8, 2);
      return { min: f[0], max: f[1], samples: e.samples };
    }
    return { min: f32FromBits(fromOrderedKey(words[0])), max: f32FromBits(fromOrderedKey(words[1])), samples: e.samples };
  }

  /** Frees `key`'s state. */
  delete(key: K): void {
    this.entries.get(key)?.state.dispose();
    this.entries.delete(key);
  }

  dispose(): void {
    for (const e of this.entries.values()) e.state.dispose();
    this.entries.clear();
  }
}

/** Static activation qparams as compressed-tensors stores them. */
export interface ActivationQParams {
  /** `[1]` scale (static tensor strategy), else null. */
  readonly scale: number | null;
  /** `[1]` zero point (asymmetric only), else null. */
  readonly zeroPoint: number | null;
  /** `[1]` NVFP4 global scale (`dynamic: "local"`), else null. */
  readonly globalScale: number | null;
}

/**
 * compressed-tensors' qparams from an observed range: `calculate_qparams`
 * for static tensor args, `generate_gparam` (448·6 / absmax) for NVFP4
 * activations whose local scales are dynamic. Computed in `dtype`, the
 * activation dtype torch would hold (the range is first rounded to it).
 */
export function activationQParams(args: QuantizationArgs, range: { min: number; max: number }, dtype: ComputeDtype, where: string): ActivationQParams {
  if (!Number.isFinite(range.min) || !Number.isFinite(range.max)) {
    throw new Error(`${where}: observed activation range is [${range.min}, ${range.max}]; the calibration inputs contain NaN or Inf`);
  }
  const lo = roundTo(range.min, dtype);
  const hi = roundTo(range.max, dtype);
  if (args.dynamic === 'local') {
    if (args.strategy !== 'tensor_group') throw new Error(`${where}: dynamic "local" activations need strategy tensor_group`);
    return { scale: null, zeroPoint: null, globalScale: globalScaleFromAbsMax(Math.max(-Math.min(lo, 0), Math.max(hi, 0)), dtype) };
  }
  if (args.dynamic !== false) throw new Error(`${where}: dynamic activations have no calibrated qparams`);
  if (args.strategy !== 'tensor') throw new Error(`${where}: static activations are calibrated per tensor only, not with strategy "${args.strategy}"`);
  const q = calculateQParams(lo, hi, referenceContext(args, dtype), null);
  return { scale: q.scale, zeroPoint: args.symmetric ? null : q.zeroPoint, globalScale: null };
}
