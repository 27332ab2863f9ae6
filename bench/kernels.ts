/**
 * Engine kernels timed with the harness's method (warm-up, repetitions, GPU
 * timestamps, rotated random inputs), each against its ceiling:
 * - quantize + pack of one Linear weight through the quantization API
 *   (`quantizeWeightGpu`: observe, scale, round, pack in one pass), in GB/s of
 *   f32 weight read plus packed codes and scales written, against copy;
 * - the bf16 → f32 widening every BF16 checkpoint goes through on load;
 * - a per-row absmax reduction (per-channel observer statistics).
 */
import type { Hardware } from '../src/gpu/hardware.js';
import { Tensor } from '../src/gpu/tensor.js';
import { castToF32 } from '../src/gpu/kernels/elementwise.js';
import { reduceSegments } from '../src/gpu/kernels/reduce.js';
import { presetScheme } from '../src/quantization/presets.js';
import { quantizeWeightGpu } from '../src/quantization/quantizeWeight.js';
import type { BenchEntry, BenchOptions } from './types.js';
import { measureGpu, rotationCount } from './measure.js';
import { rateEntry } from './ceilings.js';
import { randomWeights } from './random.js';

function weights(hw: Hardware, rows: number, cols: number, slots: number): Tensor[] {
  return Array.from({ length: slots }, (_, i) => Tensor.fromData(hw, randomWeights(rows * cols, 100 + i), [rows, cols], 'f32'));
}

/** Quantize + pack throughput of `scheme`'s weight arguments on a `[rows, cols]` f32 weight. */
async function benchQuantizePack(hw: Hardware, scheme: string, rows: number, cols: number, reps: number): Promise<BenchEntry> {
  const args = presetScheme(scheme).weights;
  if (!args) throw new Error(`scheme ${scheme} has no weight quantization`);
  const slots = rotationCount(rows * cols * 4, 4);
  const w = weights(hw, rows, cols, slots);
  let writtenBytes = 0;
  try {
    const m = await measureGpu(hw, {
      reps, slots,
      record: (s) => {
        const q = quantizeWeightGpu(hw, w[s], args, { name: `bench.${scheme}` });
        const groups = q.geometry.nGroupRows * q.geometry.nGroupCols;
        writtenBytes = rows * q.rowWords * 4 + groups * 4 * (args.symmetric ? 1 : 2);
        q.dispose();
      },
    });
    const bytes = rows * cols * 4 + writtenBytes;
    const e = rateEntry(`quantize.pack.${scheme}.${rows}x${cols}`, 'GB/s', m, bytes, 1e9, {
      bytes, readBytes: rows * cols * 4, writtenBytes, slots, strategy: args.strategy, numBits: args.numBits, groupSize: args.groupSize ?? 0,
    });
    return { ...e, ceiling: 'copy' };
  } finally {
    for (const t of w) t.dispose();
  }
}

/** bf16 → f32 widening (2 bytes read, 4 written per element). */
async function benchCastBf16(hw: Hardware, rows: number, cols: number, reps: number): Promise<BenchEntry> {
  const n = rows * cols;
  const slots = rotationCount(n * 6, 4);
  const src = Array.from({ length: slots }, (_, i) => {
    const f = randomWeights(n, 200 + i);
    const bf = new Uint16Array(n);
    const u = new Uint32Array(f.buffer);
    for (let j = 0; j < n; j++) bf[j] = u[j] >>> 16;
    return Tensor.fromData(hw, bf, [rows, cols], 'bf16');
  });
  try {
    const m = await measureGpu(hw, { reps, slots, record: (s) => castToF32(hw, src[s]).dispose() });
    return { ...rateEntry(`cast.bf16ToF32.${rows}x${cols}`, 'GB/s', m, n * 6, 1e9, { bytes: n * 6, slots }), ceiling: 'copy' };
  } finally {
    for (const t of src) t.dispose();
  }
}

/** Absmax per row (per-channel observer statistics: reads the weight once, one f32 per row). */
async function benchGroupAbsmax(hw: Hardware, rows: number, cols: number, reps: number): Promise<BenchEntry> {
  const slots = rotationCount(rows * cols * 4, 4);
  const w = weights(hw, rows, cols, slots);
  const bytes = rows * cols * 4 + rows * 4;
  try {
    const m = await measureGpu(hw, { reps, slots, record: (s) => reduceSegments(hw, w[s], 'absmax').dispose() });
    return { ...rateEntry(`reduce.absmax.rows.${rows}x${cols}`, 'GB/s', m, bytes, 1e9, { bytes, slots }), ceiling: 'copy' };
  } finally {
    for (const t of w) t.dispose();
  }
}

export default async function benchKernels(hw: Hardware, opts: BenchOptions): Promise<BenchEntry[]> {
  const reps = opts.quick ? 5 : 7;
  const shapes: [number, number][] = opts.quick ? [[4096, 4096]] : [[4096, 4096], [14336, 4096]];
  const out: BenchEntry[] = [];
  for (const [rows, cols] of shapes) {
    for (const scheme of ['W4A16', 'W8A8', 'FP8_DYNAMIC']) out.push(await benchQuantizePack(hw, scheme, rows, cols, reps));
  }
  out.push(await benchCastBf16(hw, 4096, 4096, reps));
  out.push(await benchGroupAbsmax(hw, 4096, 4096, reps));
  return out;
}
