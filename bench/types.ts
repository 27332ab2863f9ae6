import { summarize } from './stats.js';

export { summarize };

/**
 * The device ceiling an entry is measured against: `copy` for
 * bandwidth-bound work (GB/s, read + write bytes), `matmul` for
 * arithmetic-bound work (GFLOP/s), `none` when no device ceiling applies
 * (latencies, memory footprints, host transfers).
 */
export type Ceiling = 'copy' | 'matmul' | 'none';

/** One benchmark result, as printed in the table and written to the JSON. */
export interface BenchEntry {
  /** Stable identifier, e.g. `matmul.f32.1024x1024x1024`. */
  name: string;
  /** Unit of `value`: `GB/s`, `GFLOP/s`, `us`, `tokens/s`, `s`, `bytes`… */
  unit: string;
  /** Median over the timed repetitions. */
  value: number;
  /** Relative spread (max − min) / median over the repetitions, when repeated. */
  spread?: number;
  /** Other figures worth keeping (sizes, times, fractions of a ceiling). */
  extra?: Record<string, number | string>;
  /**
   * Which ceiling bounds this entry. When absent the runner infers it: `GB/s`
   * → copy, `GFLOP/s` → matmul, an `extra.gflops` figure → matmul, else none.
   * An entry in a time unit (`s`, `ms`, `us`) with a declared ceiling gives
   * its work in `extra.bytes` (copy) or `extra.flops` (matmul) so the runner
   * can turn the time into a throughput.
   */
  ceiling?: Ceiling;
  /** Every timed repetition, in `unit`. */
  samples?: number[];
  /** How the repetitions were timed: GPU timestamps or host wall clock. */
  timer?: 'gpu' | 'wall';
}

export interface BenchOptions {
  quick: boolean;
  /** Bigger models and shapes (sized for real GPUs). */
  large?: boolean;
}
