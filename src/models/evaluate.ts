import type { CausalLM } from './causalLM.js';
import { PerplexityAccumulator, type PerplexityResult } from '../data/perplexity.js';

export interface PerplexityOptions {
  /** Windows per forward (default: as many as keep the widest activation under 64 MiB, at most 8). */
  batchSize?: number;
  /** Called after each batch with windows done and total. */
  onProgress?: (done: number, total: number) => void;
}

export interface PerplexityRun extends PerplexityResult {
  seconds: number;
  /** Tokens through the forward per second (windows × L / seconds). */
  tokensPerSecond: number;
  /** Per-window mean NLL, in window order. */
  windowMeanNll: number[];
}

/**
 * Perplexity over equal-length token windows (src/data/perplexity.ts
 * protocol): each window's NLL at positions 2..L from the GPU forward, with
 * the fused log-softmax NLL kernel; sums in float64 on the host.
 */
export async function evaluatePerplexity(model: CausalLM, windows: readonly Int32Array[], options: PerplexityOptions = {}): Promise<PerplexityRun> {
  if (!windows.length) throw new Error('perplexity: no windows (the dataset is shorter than one window of max-seq-length tokens)');
  const L = windows[0].length;
  if (L < 2) throw new Error(`perplexity: windows of ${L} tokens score nothing`);
  if (windows.some((w) => w.length !== L)) throw new Error('perplexity: windows differ in length');
  // Logits are projected a row block at a time, so the MLP activations set the batch.
  const bytesPerWindow = 4 * L * model.maxActivationWidth;
  const batchSize = options.batchSize ?? Math.max(1, Math.min(8, Math.floor((64 * 1024 * 1024) / bytesPerWindow)));
  const acc = new PerplexityAccumulator();
  const windowMeanNll: number[] = [];
  const t0 = performance.now();
  for (let w0 = 0; w0 < windows.length; w0 += batchSize) {
    const group = windows.slice(w0, w0 + batchSize);
    const shape = { batch: group.length, seqLen: L };
    const ids = new Int32Array(group.length * L);
    group.forEach((w, i) => ids.set(w, i * L));
    let h = await model.embed(ids, shape);
    for (let i = 0; i < model.numLayers; i++) {
      const next = await model.layerForward(i, h, shape);
      h.dispose();
      h = next;
    }
    const nllT = await model.nextTokenNll(h, ids, shape);
    h.dispose();
    const nll = await nllT.readF32();
    nllT.dispose();
    for (let i = 0; i < group.length; i++) {
      const part = nll.subarray(i * L, i * L + L - 1);
      acc.addWindow(part);
      let s = 0;
      for (const x of part) s += x;
      windowMeanNll.push(s / (L - 1));
    }
    options.onProgress?.(Math.min(w0 + batchSize, windows.length), windows.length);
  }
  const seconds = (performance.now() - t0) / 1000;
  return { ...acc.result(), seconds, tokensPerSecond: (windows.length * L) / seconds, windowMeanNll };
}
