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
}

export interface BenchOptions {
  quick: boolean;
}

/** Median and relative spread of a sample. */
export function summarize(samples: number[]): { median: number; spread: number } {
  const s = [...samples].sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { median, spread: median > 0 ? (s[s.length - 1] - s[0]) / median : 0 };
}
