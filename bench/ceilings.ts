import type { Hardware } from '../src/gpu/hardware.js';
import { Tensor } from '../src/gpu/tensor.js';
import { copyVec4 } from '../src/gpu/kernels/elementwise.js';
import { matmul } from '../src/gpu/kernels/matmul.js';
import { type BenchEntry, type BenchOptions, summarize } from './types.js';

function randomF32(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/** Times `step` (which records GPU work) `reps` times after one warm-up; seconds per rep. */
async function timeReps(hw: Hardware, reps: number, step: () => void): Promise<number[]> {
  step();
  await hw.sync();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    step();
    await hw.sync();
    times.push((performance.now() - t0) / 1000);
  }
  return times;
}

/** Copy bandwidth counting bytes read plus bytes written. */
export async function benchCopy(hw: Hardware, opts: BenchOptions): Promise<BenchEntry> {
  const bytes = (opts.quick ? 16 : 64) * 1024 * 1024;
  const src = Tensor.fromData(hw, randomF32(bytes / 4, 1), [bytes / 4], 'f32');
  const dst = Tensor.empty(hw, [bytes / 4], 'f32');
  const times = await timeReps(hw, opts.quick ? 5 : 9, () => copyVec4(hw, src.buffer, dst.buffer, bytes));
  src.dispose();
  dst.dispose();
  const { median, spread } = summarize(times.map((t) => (2 * bytes) / t / 1e9));
  return { name: `copy.vec4.${bytes >> 20}MiB`, unit: 'GB/s', value: median, spread, extra: { bytes } };
}

/** Host → GPU (queue.writeBuffer) and GPU → host (MAP_READ staging) bandwidth. */
export async function benchTransfers(hw: Hardware, opts: BenchOptions): Promise<BenchEntry[]> {
  const bytes = (opts.quick ? 16 : 64) * 1024 * 1024;
  const data = randomF32(bytes / 4, 2);
  const t = Tensor.empty(hw, [bytes / 4], 'f32');
  const up: number[] = [];
  const down: number[] = [];
  for (let r = 0; r < (opts.quick ? 3 : 5); r++) {
    let t0 = performance.now();
    t.write(data);
    await hw.sync();
    up.push(bytes / ((performance.now() - t0) / 1000) / 1e9);
    t0 = performance.now();
    await t.readBytes();
    down.push(bytes / ((performance.now() - t0) / 1000) / 1e9);
  }
  t.dispose();
  const u = summarize(up);
  const d = summarize(down);
  return [
    { name: `upload.writeBuffer.${bytes >> 20}MiB`, unit: 'GB/s', value: u.median, spread: u.spread },
    { name: `readback.mapAsync.${bytes >> 20}MiB`, unit: 'GB/s', value: d.median, spread: d.spread },
  ];
}

/** Cost of one tiny dispatch recorded in a batch (encode + bind group + execution). */
export async function benchDispatchOverhead(hw: Hardware, opts: BenchOptions): Promise<BenchEntry> {
  const n = opts.quick ? 500 : 2000;
  const src = Tensor.fromData(hw, randomF32(64, 3), [64], 'f32');
  const dst = Tensor.empty(hw, [64], 'f32');
  const times = await timeReps(hw, 3, () => {
    for (let i = 0; i < n; i++) copyVec4(hw, src.buffer, dst.buffer, 256);
  });
  src.dispose();
  dst.dispose();
  const { median, spread } = summarize(times.map((t) => (t / n) * 1e6));
  return { name: 'dispatch.overhead', unit: 'us', value: median, spread, extra: { dispatches: n } };
}

/** f32 matmul throughput, A·B and A·Bᵀ. */
export async function benchMatmul(hw: Hardware, opts: BenchOptions): Promise<BenchEntry[]> {
  const sizes: [number, number, number][] = opts.quick ? [[1024, 1024, 1024]] : [[1024, 1024, 1024], [4096, 4096, 4096]];
  const out: BenchEntry[] = [];
  for (const [M, N, K] of sizes) {
    for (const transposeB of [false, true]) {
      const a = Tensor.fromData(hw, randomF32(M * K, 4), [M, K], 'f32');
      const b = Tensor.fromData(hw, randomF32(N * K, 5), transposeB ? [N, K] : [K, N], 'f32');
      const c = Tensor.empty(hw, [M, N], 'f32');
      const reps = M * N * K > 2 ** 31 ? 2 : 3;
      const times = await timeReps(hw, reps, () => matmul(hw, a, b, { transposeB, out: c }));
      for (const t of [a, b, c]) t.dispose();
      const { median, spread } = summarize(times.map((t) => (2 * M * N * K) / t / 1e9));
      out.push({ name: `matmul.f32.${transposeB ? 'NT' : 'NN'}.${M}x${N}x${K}`, unit: 'GFLOP/s', value: median, spread, extra: { seconds: summarize(times).median } });
    }
  }
  return out;
}
