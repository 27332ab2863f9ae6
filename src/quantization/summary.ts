/** The end-of-run summary of a data-free quantization: counts, sizes, bits per weight, time, worst layers. */
import type { LayerReport, ModelFreeResult } from './modelFree.js';

export interface QuantizationSummary {
  readonly model: string;
  readonly output: string;
  readonly tensorsQuantized: number;
  readonly tensorsSkipped: number;
  readonly tensorsCopied: number;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  readonly quantizedParams: number;
  readonly bitsPerWeight: number;
  readonly seconds: number;
  /** Parameters quantized per second (loading, GPU work, writing). */
  readonly paramsPerSecond: number;
  /** Layers by relative error ‖W − Q(W)‖ / ‖W‖, largest first. */
  readonly worstLayers: readonly LayerReport[];
  readonly skipped: readonly { tensor: string; reason: string }[];
  readonly files: readonly string[];
}

/** Builds the summary of `result`. */
export function summarize(result: ModelFreeResult, model: string, output: string, seconds: number, worst = 5): QuantizationSummary {
  const ranked = [...result.layers].sort((a, b) => b.relativeError - a.relativeError);
  return {
    model,
    output,
    tensorsQuantized: result.plan.quantize.length,
    tensorsSkipped: result.plan.skipped.length,
    tensorsCopied: result.plan.copied,
    bytesBefore: result.bytesBefore,
    bytesAfter: result.bytesAfter,
    quantizedParams: result.quantizedParams,
    bitsPerWeight: result.bitsPerWeight,
    seconds,
    paramsPerSecond: seconds > 0 ? result.quantizedParams / seconds : 0,
    worstLayers: ranked.slice(0, worst),
    skipped: result.plan.skipped,
    files: result.files,
  };
}

function mb(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(2)} MB`;
}

/** The summary as the CLI prints it. */
export function formatSummary(s: QuantizationSummary): string {
  const lines = [
    `quantized ${s.tensorsQuantized} tensors (${(s.quantizedParams / 1e6).toFixed(2)} M parameters), left ${s.tensorsSkipped} 2-D weights dense${s.skipped.length ? ` (${[...new Set(s.skipped.map((k) => k.reason))].join('; ')})` : ''}`,
    `size      ${mb(s.bytesBefore)} → ${mb(s.bytesAfter)} (${(s.bytesBefore / Math.max(1, s.bytesAfter)).toFixed(2)}× smaller)`,
    `bits/weight ${s.bitsPerWeight.toFixed(3)} (codes, scales and zero points of the quantized layers)`,
    `time      ${s.seconds.toFixed(2)} s (${(s.paramsPerSecond / 1e6).toFixed(2)} M parameters/s)`,
    `output    ${s.output}`,
  ];
  if (s.worstLayers.length) {
    lines.push('worst layers by ‖W − Q(W)‖ / ‖W‖:');
    const w = Math.max(...s.worstLayers.map((l) => l.tensor.length));
    for (const l of s.worstLayers) lines.push(`  ${l.tensor.padEnd(w)}  ${(l.relativeError * 100).toFixed(3)}%  [${l.shape.join(', ')}] ${l.format}`);
  }
  return lines.join('\n');
}
