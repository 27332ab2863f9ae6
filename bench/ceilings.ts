/**
 * The device's own ceilings, measured first in every run: copy bandwidth
 * (bytes read + bytes written by a vec4 copy kernel) and the best f32 matmul
 * GFLOP/s. Every other entry is reported as a fraction of one of them.
 * Also host↔device transfers and the cost of one dispatch, which have no
 * device ceiling.
 */
import type { Hardware } from '../src/gpu/hardware.js';
import { Tensor } from '../src/gpu/tensor.js';
import { copyVec4 } from '../src/gpu/kernels/elementwise.js';
import { matmul } from '../src/gpu/kernels/matmul.js';
import { type BenchEntry, type BenchOptions } from './types.js';
import { summarize, rates } from './stats.js';
import { measureGpu, rotationCount, type Measurement } from './measure.js';
import { randomF32 } from './random.js';

const TIME_UNIT_SECONDS: Record<string, number> = { s: 1, ms: 1e-3, us: 1e-6 };

/**
 * An entry from a measurement whose repetitions each did `work` units of
 * work. For a rate unit (`GB/s`, `GFLOP/s`…) each sample is `work / scale`
 * per second (e.g. bytes with scale 1e9 → GB/s). For a time unit (`s`,
 * `ms`, `us`) each sample is the time per unit of work in that unit
 * (`work` 1: the time of one repetition); `scale` is then ignored.
 */
export function rateEntry(name: string, unit: string, m: Measurement, work: number, scale: number, extra: Record<string, number | string> = {}): BenchEntry {
  const timeUnit = TIME_UNIT_SECONDS[unit];
  const samples = timeUnit !== undefined ? m.seconds.map((t) => t / work / timeUnit) : rates(m.seconds, work / scale);
  const { median, spread } = summarize(samples);
  return {
    name, unit, value: median, spread, samples, timer: m.timer,
    extra: { ...extra, seconds: summarize(m.seconds).median, wallSeconds: summarize(m.wallSeconds).median, runsPerRepetition: m.inner ?? 1 },
  };
}

/** Copy bandwidth counting bytes read plus bytes written; sources and destinations rotate below 256 MiB. */
export async function benchCopy(hw: Hardware, opts: BenchOptions): Promise<BenchEntry> {
  const bytes = (opts.quick ? 32 : 128) * 1024 * 1024;
  const slots = rotationCount(2 * bytes);
  const src = Array.from({ length: slots }, (_, i) => Tensor.fromData(hw, randomF32(bytes / 4, 1 + i), [bytes / 4], 'f32'));
  const dst = Array.from({ length: slots }, () => Tensor.empty(hw, [bytes / 4], 'f32'));
  try {
    // Nine repetitions even in quick mode (a copy takes milliseconds): with
    // five, two slow early ones on lavapipe dragged the median — and so the
    // ceiling every fraction divides by — down by a fifth.
    const m = await measureGpu(hw, { reps: 9, slots, record: (s) => copyVec4(hw, src[s].buffer, dst[s].buffer, bytes) });
    return { ...rateEntry(`copy.vec4.${bytes >> 20}MiB`, 'GB/s', m, 2 * bytes, 1e9, { bytes: 2 * bytes, slots }), ceiling: 'copy' };
  } finally {
    for (const t of [...src, ...dst]) t.dispose();
  }
}

/** Host → GPU (queue.writeBuffer) and GPU → host (MAP_READ staging) bandwidth, wall clock. */
export async function benchTransfers(hw: Hardware, opts: BenchOptions): Promise<BenchEntry[]> {
  const bytes = (opts.quick ? 16 : 64) * 1024 * 1024;
  const data = randomF32(bytes / 4, 2);
  const t = Tensor.empty(hw, [bytes / 4], 'f32');
  const up: number[] = [];
  const down: number[] = [];
  try {
    t.write(data);
    await t.readBytes();
    for (let r = 0; r < (opts.quick ? 3 : 5); r++) {
      let t0 = performance.now();
      t.write(data);
      await hw.sync();
      up.push(bytes / ((performance.now() - t0) / 1000) / 1e9);
      t0 = performance.now();
      await t.readBytes();
      down.push(bytes / ((performance.now() - t0) / 1000) / 1e9);
    }
  } finally {
    t.dispose();
  }
  const u = summarize(up);
  const d = summarize(down);
  // Bound by the host link (PCIe, or host memory on a software adapter), not by the device's memory.
  return [
    { name: `upload.writeBuffer.${bytes >> 20}MiB`, unit: 'GB/s', value: u.median, spread: u.spread, samples: up, timer: 'wall', ceiling: 'none', extra: { bytes } },
    { name: `readback.mapAsync.${bytes >> 20}MiB`, unit: 'GB/s', value: d.median, spread: d.spread, samples: down, timer: 'wall', ceiling: 'none', extra: { bytes } },
  ];
}

/** Cost of one tiny dispatch recorded in a batch (encode + bind group + execution), wall clock. */
export async function benchDispatchOverhead(hw: Hardware, opts: BenchOptions): Promise<BenchEntry> {
  const n = opts.quick ? 500 : 2000;
  const src = Tensor.fromData(hw, randomF32(64, 3), [64], 'f32');
  const dst = Tensor.empty(hw, [64], 'f32');
  try {
    // The host side is the point here, so the wall clock is the figure.
    const m = await measureGpu(hw, { reps: 3, gpuTimer: false, record: () => { for (let i = 0; i < n; i++) copyVec4(hw, src.buffer, dst.buffer, 256); } });
    const samples = m.wallSeconds.map((t) => (t / n) * 1e6);
    const { median, spread } = summarize(samples);
    return { name: 'dispatch.overhead', unit: 'us', value: median, spread, samples, timer: 'wall', ceiling: 'none', extra: { dispatches: n } };
  } finally {
    src.dispose();
    dst.dispose();
  }
}

/** f32 matmul throughput, A·B and A·Bᵀ; the best of them is the arithmetic ceiling. */
export async function benchMatmul(hw: Hardware, opts: BenchOptions): Promise<BenchEntry[]> {
  const sizes: [number, number, number][] = opts.quick ? [[1024, 1024, 1024]] : [[1024, 1024, 1024], [2048, 2048, 2048]];
  if (opts.large) sizes.push([4096, 4096, 4096]);
  const out: BenchEntry[] = [];
  for (const [M, N, K] of sizes) {
    const bytes = 4 * (M * K + N * K + M * N);
    const slots = rotationCount(bytes, 4);
    for (const transposeB of [false, true]) {
      const a = Array.from({ length: slots }, (_, i) => Tensor.fromData(hw, randomF32(M * K, 4 + i), [M, K], 'f32'));
      const b = Array.from({ length: slots }, (_, i) => Tensor.fromData(hw, randomF32(N * K, 40 + i), transposeB ? [N, K] : [K, N], 'f32'));
      const c = Array.from({ length: slots }, () => Tensor.empty(hw, [M, N], 'f32'));
      try {
        const flops = 2 * M * N * K;
        // One slot per warm-up would cost seconds per slot on a software adapter: warm once, rotate while timing.
        const m = await measureGpu(hw, { reps: flops > 2 ** 33 ? 2 : 3, slots, warmup: 1, record: (s) => matmul(hw, a[s], b[s], { transposeB, out: c[s] }) });
        const e = rateEntry(`matmul.f32.${transposeB ? 'NT' : 'NN'}.${M}x${N}x${K}`, 'GFLOP/s', m, flops, 1e9, { flops, slots });
        out.push({ ...e, ceiling: 'matmul' });
      } finally {
        for (const t of [...a, ...b, ...c]) t.dispose();
      }
    }
  }
  return out;
}
