/**
 * Statistics of repeated measurements. The median is the reported figure
 * (robust to one slow repetition); the spread is (max − min) / median, so
 * 0.1 means the repetitions varied by 10 % of the median.
 */

/** Median of a non-empty sample. */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) throw new RangeError('median of an empty sample');
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Median and relative spread of a sample; a single sample has spread 0. */
export function summarize(samples: readonly number[]): { median: number; spread: number } {
  const m = median(samples);
  const lo = Math.min(...samples);
  const hi = Math.max(...samples);
  return { median: m, spread: m > 0 ? (hi - lo) / m : 0 };
}

/**
 * Turns per-repetition times (seconds) into rates `work / t`. Rates are
 * summarized separately from times: the median rate is `work / median time`
 * for an odd count, and the spread is taken over the rates.
 */
export function rates(seconds: readonly number[], work: number): number[] {
  return seconds.map((t) => work / t);
}
