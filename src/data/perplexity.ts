/**
 * The perplexity protocol: all documents' tokens concatenated, split into
 * non-overlapping windows of L tokens (a shorter tail dropped); within a
 * window, positions 2..L are scored (each predicted from the tokens before it
 * in the same window, so the first has no context and is not scored);
 * ppl = exp(mean NLL over every scored token).
 */
export { concatenatedWindows as perplexityWindows } from './calibration.js';

export interface PerplexityResult {
  perplexity: number;
  /** Mean natural-log NLL per scored token. */
  meanNll: number;
  /** Tokens scored (windows × (L − 1)). */
  tokens: number;
  windows: number;
}

/** Accumulates per-window NLL sums in float64 and reports the protocol's numbers. */
export class PerplexityAccumulator {
  private nllSum = 0;
  private tokenCount = 0;
  private windowCount = 0;

  /** Adds one window's NLLs of its scored positions (L − 1 values). */
  addWindow(nll: ArrayLike<number>): void {
    let s = 0;
    for (let i = 0; i < nll.length; i++) {
      if (!Number.isFinite(nll[i])) throw new Error(`non-finite NLL ${nll[i]} at position ${i + 2} of window ${this.windowCount}`);
      s += nll[i];
    }
    this.nllSum += s;
    this.tokenCount += nll.length;
    this.windowCount++;
  }

  result(): PerplexityResult {
    if (!this.tokenCount) throw new Error('perplexity of zero tokens');
    const meanNll = this.nllSum / this.tokenCount;
    return { perplexity: Math.exp(meanNll), meanNll, tokens: this.tokenCount, windows: this.windowCount };
  }
}
