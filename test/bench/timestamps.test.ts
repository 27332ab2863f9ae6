// The batcher's optional GPU timing (CommandBatcher.beginTiming/endTiming,
// timedPassSeconds) and the bench's measure loop built on it: against a
// recording fake device (which passes get timestamp writes, overflow, no
// change when timing is off) and on the real adapter (results unchanged,
// positive durations).
import { describe, it, expect } from 'vitest';
import { CommandBatcher, timedPassSeconds, type DispatchRecord } from '../../src/gpu/batcher.js';
import { BufferPool } from '../../src/gpu/pool.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { copyVec4 } from '../../src/gpu/kernels/elementwise.js';
import { innerIterations, measureGpu, releaseTimer, rotationCount, MAX_INNER_ITERATIONS, MIN_REPETITION_SECONDS, ROTATE_BYTES } from '../../bench/measure.js';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { acquireBenchHardware } from '../../bench/hardware.js';
import { freshSeed, uniform } from '../helpers/random.js';

type PassLog = { descriptor: GPUComputePassDescriptor | undefined; dispatches: number };

/** Just enough of a GPUDevice to record passes, resolves and submits. */
function fakeDevice() {
  const passes: PassLog[] = [];
  const resolves: { first: number; count: number; offset: number }[] = [];
  let submits = 0;
  const device = {
    createCommandEncoder: () => ({
      beginComputePass(descriptor?: GPUComputePassDescriptor) {
        const log: PassLog = { descriptor, dispatches: 0 };
        passes.push(log);
        return { setPipeline() {}, setBindGroup() {}, dispatchWorkgroups: () => void log.dispatches++, end() {} };
      },
      resolveQuerySet: (_q: GPUQuerySet, first: number, count: number, _dst: GPUBuffer, offset: number) => void resolves.push({ first, count, offset }),
      copyBufferToBuffer() {},
      finish: () => ({}),
    }),
    createBuffer: (d: GPUBufferDescriptor) => ({ size: d.size, usage: d.usage, destroy() {} }),
    queue: { submit: () => void submits++, writeBuffer() {} },
  } as unknown as GPUDevice;
  return { device, passes, resolves, submits: () => submits };
}

const DISPATCH: DispatchRecord = { pipeline: {} as GPUComputePipeline, bindGroup: () => ({}) as GPUBindGroup, workgroups: [1, 1, 1] };

function batcher(device: GPUDevice, flushEvery = 3) {
  return new CommandBatcher(device, new BufferPool(device), { flushEvery, minUniformAlignment: 256, checkAlive: () => {} });
}

describe('CommandBatcher timing (fake device)', () => {
  it('without timing, passes open with no descriptor, as before', () => {
    const f = fakeDevice();
    const b = batcher(f.device);
    for (let i = 0; i < 5; i++) b.dispatch(DISPATCH);
    b.flush();
    expect(f.passes.map((p) => p.descriptor)).toEqual([undefined, undefined]);
    expect(f.resolves).toEqual([]);
  });

  it('every pass opened while timing gets its own begin/end pair; the resolve covers them', () => {
    const f = fakeDevice();
    const b = batcher(f.device, 3);
    b.dispatch(DISPATCH); // before timing: must stay untimed
    const querySet = { count: 16 } as GPUQuerySet;
    b.beginTiming(querySet);
    for (let i = 0; i < 7; i++) b.dispatch(DISPATCH); // flushes every 3 dispatches: passes of 2, 3, 2
    const span = b.endTiming({} as GPUBuffer);
    b.dispatch(DISPATCH); // after timing: untimed
    b.flush();
    expect(span).toEqual({ passes: 3, overflowed: false });
    expect(f.passes.map((p) => p.dispatches)).toEqual([1, 2, 3, 2, 1]);
    expect(f.passes[0].descriptor).toBeUndefined();
    expect(f.passes.slice(1, 4).map((p) => p.descriptor!.timestampWrites)).toEqual([0, 2, 4].map((i) => ({ querySet, beginningOfPassWriteIndex: i, endOfPassWriteIndex: i + 1 })));
    expect(f.passes[4].descriptor).toBeUndefined();
    expect(f.resolves).toEqual([{ first: 0, count: 6, offset: 0 }]);
  });

  it('passes beyond the query set run untimed and are reported as overflow', () => {
    const f = fakeDevice();
    const b = batcher(f.device, 1);
    b.beginTiming({ count: 4 } as GPUQuerySet);
    for (let i = 0; i < 3; i++) b.dispatch(DISPATCH);
    expect(b.endTiming({} as GPUBuffer)).toEqual({ passes: 2, overflowed: true });
    expect(f.passes.map((p) => p.descriptor === undefined)).toEqual([false, false, true]);
  });

  it('misuse is an error', () => {
    const b = batcher(fakeDevice().device);
    expect(() => b.endTiming({} as GPUBuffer)).toThrow(/not active/);
    b.beginTiming({ count: 2 } as GPUQuerySet);
    expect(() => b.beginTiming({ count: 2 } as GPUQuerySet)).toThrow(/already active/);
    expect(b.endTiming({} as GPUBuffer)).toEqual({ passes: 0, overflowed: false });
  });
});

describe('timedPassSeconds', () => {
  it('sums end − begin of each pair, in seconds, skipping counter resets', () => {
    const ns = new BigUint64Array([1000n, 3000n, 5000n, 5500n, 9000n, 8000n]);
    expect(timedPassSeconds(ns.buffer, 3)).toBeCloseTo(2.5e-6, 15);
    expect(timedPassSeconds(ns.buffer, 1)).toBeCloseTo(2e-6, 15);
  });
});

describe('innerIterations', () => {
  it('repeats short work up to the minimum repetition time, within bounds', () => {
    expect(innerIterations(0.01)).toBe(1);
    expect(innerIterations(MIN_REPETITION_SECONDS)).toBe(1);
    expect(innerIterations(MIN_REPETITION_SECONDS / 3)).toBe(3);
    expect(innerIterations(1e-7)).toBe(MAX_INNER_ITERATIONS);
    expect(innerIterations(0)).toBe(MAX_INNER_ITERATIONS);
  });
});

describe('rotationCount', () => {
  it('rotates working sets below 256 MiB, up to a cap', () => {
    expect(rotationCount(ROTATE_BYTES)).toBe(1);
    expect(rotationCount(2 * ROTATE_BYTES)).toBe(1);
    expect(rotationCount(ROTATE_BYTES / 2)).toBe(2);
    expect(rotationCount(ROTATE_BYTES / 3)).toBe(3);
    expect(rotationCount(1024)).toBe(8);
    expect(rotationCount(1024, 4)).toBe(4);
    expect(rotationCount(0)).toBe(1);
  });
});

const hardware = useHardware();

describe('GPU timing on the adapter', () => {
  it('a timed copy gives a positive duration and the right result', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const n = 1 << 18;
    const data = uniform(n, seed);
    await inErrorScope(hw, async () => {
      const src = Tensor.fromData(hw, data, [n], 'f32');
      const dst = Tensor.empty(hw, [n], 'f32');
      if (hw.caps.timestampQuery) {
        const querySet = hw.device.createQuerySet({ type: 'timestamp', count: 8 });
        const resolve = hw.device.createBuffer({ size: 64, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
        hw.batcher.beginTiming(querySet);
        copyVec4(hw, src.buffer, dst.buffer, n * 4);
        const span = hw.batcher.endTiming(resolve);
        expect(span).toEqual({ passes: 1, overflowed: false });
        const seconds = timedPassSeconds(await hw.batcher.read(resolve, 0, 16), span.passes);
        expect(seconds).toBeGreaterThan(0);
        expect(seconds).toBeLessThan(10);
        querySet.destroy();
        resolve.destroy();
      } else {
        copyVec4(hw, src.buffer, dst.buffer, n * 4);
      }
      const got = await dst.readF32();
      let bad = 0;
      for (let i = 0; i < n; i++) if (got[i] !== data[i]) bad++;
      expect(bad, `seed ${seed}`).toBe(0);
      src.dispose();
      dst.dispose();
    });
  });

  it('measureGpu: warm-up, repetitions, rotation slots, GPU timer where available', async () => {
    const hw = await hardware();
    const n = 1 << 16;
    const src = [0, 1, 2].map((i) => Tensor.fromData(hw, uniform(n, 10 + i), [n], 'f32'));
    const dst = [0, 1, 2].map(() => Tensor.empty(hw, [n], 'f32'));
    const used: number[] = [];
    const record = (s: number) => {
      used.push(s);
      copyVec4(hw, src[s].buffer, dst[s].buffer, n * 4);
    };
    await inErrorScope(hw, async () => {
      const m = await measureGpu(hw, { reps: 4, slots: 3, inner: 1, record });
      expect(used).toEqual([0, 1, 2, 0, 1, 2, 0]); // one warm-up per slot, then repetitions rotate
      expect(m.seconds.length).toBe(4);
      expect(m.wallSeconds.length).toBe(4);
      expect(m.timer).toBe(hw.caps.timestampQuery ? 'gpu' : 'wall');
      for (const s of m.seconds) expect(s).toBeGreaterThan(0);

      used.length = 0;
      const two = await measureGpu(hw, { reps: 2, slots: 3, inner: 2, warmup: 0, record });
      expect(used).toEqual([0, 1, 2, 0]); // each repetition runs the work twice, still rotating
      expect(two.inner).toBe(2);

      used.length = 0;
      const auto = await measureGpu(hw, { reps: 2, warmup: 0, record });
      // A calibration run, then as many runs per repetition as make MIN_REPETITION_SECONDS.
      expect(used.length).toBe(1 + 2 * auto.inner!);
      expect(auto.inner).toBeGreaterThanOrEqual(1);

      const wall = await measureGpu(hw, { reps: 2, gpuTimer: false, inner: 1, record: () => copyVec4(hw, src[0].buffer, dst[0].buffer, n * 4) });
      expect(wall.timer).toBe('wall');
      expect(wall.seconds).toEqual(wall.wallSeconds);
    });
    releaseTimer(hw);
    for (const t of [...src, ...dst]) t.dispose();
  });
});

describe('acquireBenchHardware', () => {
  it('turns Dawn’s timestamp quantization off', async () => {
    const { hw, unquantizedTimestamps } = await acquireBenchHardware();
    try {
      if (!hw.caps.timestampQuery) return;
      expect(unquantizedTimestamps).toBe(true);
      const n = 1 << 16;
      const src = Tensor.fromData(hw, uniform(n, 5), [n], 'f32');
      const dst = Tensor.empty(hw, [n], 'f32');
      const querySet = hw.device.createQuerySet({ type: 'timestamp', count: 6 });
      const resolve = hw.device.createBuffer({ size: 48, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      hw.batcher.beginTiming(querySet);
      for (let i = 0; i < 3; i++) {
        copyVec4(hw, src.buffer, dst.buffer, n * 4);
        hw.batcher.flush(); // a pass per copy
      }
      const span = hw.batcher.endTiming(resolve);
      expect(span.passes).toBe(3);
      const ns = new BigUint64Array(await hw.batcher.read(resolve, 0, 48));
      // Quantized timestamps are multiples of 65536 ns; six exact ones all being so is a 2⁻⁹⁶ chance.
      expect([...ns].every((t) => t % 65536n === 0n)).toBe(false);
      querySet.destroy();
      resolve.destroy();
      src.dispose();
      dst.dispose();
    } finally {
      await hw.destroy();
    }
  });
});
