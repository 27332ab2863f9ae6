import { DatasetError } from './dataset.js';
import { shuffledIndices } from './random.js';

export interface CalibrationOptions {
  /** Samples to draw (llm-compressor's `num_calibration_samples`, default 512). */
  numSamples?: number;
  /** Tokens per sample (`max_seq_length`). */
  maxSeqLength: number;
  /** Seed of the draw (llm-compressor shuffles with seed 42 by default). */
  seed?: number;
  /**
   * `windows` (default): the documents' tokens are concatenated and cut into
   * non-overlapping windows of exactly `maxSeqLength`, from which
   * `numSamples` are drawn — every sample is full length, so batches need no
   * padding. `documents`: llm-compressor's default collation — shuffled
   * documents, each truncated to `maxSeqLength` (shorter ones stay short).
   */
  mode?: 'windows' | 'documents';
}

/**
 * Draws calibration samples from tokenized documents, reproducibly for a
 * seed. Fewer available samples than requested is not an error (as in
 * llm-compressor, which takes min(num_samples, len(dataset))); the caller sees
 * the shortfall from the returned length.
 */
export function drawCalibrationSamples(documents: readonly (readonly number[])[], options: CalibrationOptions): Int32Array[] {
  const numSamples = options.numSamples ?? 512;
  const L = options.maxSeqLength;
  const seed = options.seed ?? 42;
  if (!Number.isInteger(L) || L < 2) throw new DatasetError(`maxSeqLength must be an integer ≥ 2, got ${L}`);
  if (!Number.isInteger(numSamples) || numSamples < 1) throw new DatasetError(`numCalibrationSamples must be a positive integer, got ${numSamples}`);
  if (options.mode === 'documents') {
    const order = shuffledIndices(documents.length, seed);
    return order
      .map((i) => documents[i])
      .filter((d) => d.length > 0)
      .slice(0, numSamples)
      .map((d) => Int32Array.from(d.slice(0, L)));
  }
  const windows = concatenatedWindows(documents, L);
  if (!windows.length) throw new DatasetError(`the dataset has fewer than maxSeqLength=${L} tokens in total; lower --max-seq-length`);
  const order = shuffledIndices(windows.length, seed).slice(0, numSamples);
  return order.map((i) => windows[i]);
}

/**
 * All documents' tokens concatenated and cut into non-overlapping windows of
 * `length`; the shorter tail is dropped. This is the perplexity protocol's
 * windowing (and calibration's `windows` mode).
 */
export function concatenatedWindows(documents: readonly (readonly number[])[], length: number, maxWindows = Infinity): Int32Array[] {
  let total = 0;
  for (const d of documents) total += d.length;
  const count = Math.min(Math.floor(total / length), maxWindows);
  const stream = new Int32Array(count * length);
  let o = 0;
  for (const d of documents) {
    if (o >= stream.length) break;
    const n = Math.min(d.length, stream.length - o);
    for (let i = 0; i < n; i++) stream[o + i] = d[i];
    o += n;
  }
  return Array.from({ length: count }, (_, w) => stream.subarray(w * length, (w + 1) * length));
}
