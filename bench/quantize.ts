/**
 * Quantization benchmarks (issue 5):
 * - quantize + pack of one Linear weight through `quantizeWeightGpu` for the
 *   paths bench/kernels.ts does not cover — FP8 per-tensor (observe pass +
 *   quantize pass), NVFP4 (global-scale pass + in-thread groups of 16) and the
 *   mse observer — in GB/s of f32 read plus codes and scales written, against
 *   the copy ceiling;
 * - data-free oneshot end to end on a synthetic Llama written to disk
 *   (≥ 1.1 B parameters; a 0.1 B one with --quick): parameters per second
 *   from safetensors in to compressed-tensors out, and the peak resident
 *   memory of the process, which stays near one tensor plus the runtime
 *   because the model is streamed tensor by tensor.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Hardware } from '../src/gpu/hardware.js';
import { Tensor } from '../src/gpu/tensor.js';
import { makeQuantizationArgs, type QuantizationArgs } from '../src/quantization/args.js';
import { presetScheme } from '../src/quantization/presets.js';
import { quantizeWeightGpu } from '../src/quantization/quantizeWeight.js';
import { dataFreeOneshot } from '../src/quantization/dataFreeOneshot.js';
import { BENCH_LLAMA_1B, syntheticLlamaParams, writeSyntheticLlama, type SyntheticLlamaConfig } from '../src/quantization/syntheticLlama.js';
import { writeOutputFolder } from '../src/io/node/index.js';
import type { BenchEntry, BenchOptions } from './types.js';
import { measureGpu, rotationCount } from './measure.js';
import { rateEntry } from './ceilings.js';
import { randomWeights } from './random.js';

async function benchQuantize(hw: Hardware, label: string, args: QuantizationArgs, rows: number, cols: number, reps: number): Promise<BenchEntry> {
  const slots = rotationCount(rows * cols * 4, 4);
  const w = Array.from({ length: slots }, (_, i) => Tensor.fromData(hw, randomWeights(rows * cols, 300 + i), [rows, cols], 'f32'));
  let written = 0;
  let path = '';
  try {
    const m = await measureGpu(hw, {
      reps,
      slots,
      record: (s) => {
        const q = quantizeWeightGpu(hw, w[s], args, { name: `bench.${label}` });
        const groups = q.geometry.nGroupRows * q.geometry.nGroupCols;
        written = rows * q.rowWords * 4 + groups * 4 * (args.symmetric ? 1 : 2);
        path = q.path;
        q.dispose();
      },
    });
    const bytes = rows * cols * 4 + written;
    return { ...rateEntry(`quantize.pack.${label}.${rows}x${cols}`, 'GB/s', m, bytes, 1e9, { bytes, readBytes: rows * cols * 4, writtenBytes: written, slots, path }), ceiling: 'copy' };
  } finally {
    for (const t of w) t.dispose();
  }
}

/** The synthetic model's folder in the temporary directory, written once per shape. */
async function syntheticModel(c: SyntheticLlamaConfig): Promise<string> {
  const dir = join(tmpdir(), `wgc-bench-llama-${c.hiddenSize}x${c.intermediateSize}x${c.numLayers}-${c.seed}`);
  if (!existsSync(join(dir, 'config.json'))) await writeOutputFolder(dir, { overwrite: true }, (out) => writeSyntheticLlama(out, { ...c, maxShardBytes: 2e9 }));
  return dir;
}

async function benchDataFree(hw: Hardware, c: SyntheticLlamaConfig, scheme: string): Promise<BenchEntry> {
  const model = await syntheticModel(c);
  const output = join(tmpdir(), `wgc-bench-oneshot-${scheme.toLowerCase()}`);
  let peak = process.memoryUsage().rss;
  const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  try {
    const s = await dataFreeOneshot(hw, { model, output, quantization: { scheme }, overwrite: true, onProgress: () => (peak = Math.max(peak, process.memoryUsage().rss)) });
    const params = syntheticLlamaParams(c);
    return {
      name: `oneshot.datafree.${scheme}.${(params / 1e9).toFixed(2)}B`,
      unit: 'Mparams/s',
      value: s.paramsPerSecond / 1e6,
      ceiling: 'none',
      timer: 'wall',
      extra: {
        seconds: s.seconds,
        parameters: params,
        quantizedParameters: s.quantizedParams,
        bytesBefore: s.bytesBefore,
        bytesAfter: s.bytesAfter,
        bitsPerWeight: s.bitsPerWeight,
        peakRssBytes: peak,
        largestTensorBytes: c.intermediateSize * c.hiddenSize * (c.dtype === 'bfloat16' ? 2 : 4),
      },
    };
  } finally {
    clearInterval(sample);
    await rm(output, { recursive: true, force: true });
  }
}

export default async function benchQuantization(hw: Hardware, opts: BenchOptions): Promise<BenchEntry[]> {
  const reps = opts.quick ? 3 : 7;
  const shapes: [number, number][] = opts.quick ? [[4096, 4096]] : [[4096, 4096], [14336, 4096]];
  const out: BenchEntry[] = [];
  for (const [rows, cols] of shapes) {
    out.push(await benchQuantize(hw, 'FP8', presetScheme('FP8').weights!, rows, cols, reps));
    out.push(await benchQuantize(hw, 'NVFP4A16', presetScheme('NVFP4A16').weights!, rows, cols, reps));
  }
  out.push(await benchQuantize(hw, 'W4A16.mse', makeQuantizationArgs({ numBits: 4, strategy: 'group', groupSize: 128, observer: 'mse' }), 4096, 4096, opts.quick ? 1 : 3));
  const model: SyntheticLlamaConfig = opts.quick ? { ...BENCH_LLAMA_1B, numLayers: 2, vocabSize: 8192 } : BENCH_LLAMA_1B;
  out.push(await benchDataFree(hw, model, 'W4A16'));
  return out;
}
