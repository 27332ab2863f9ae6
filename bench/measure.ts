/**
 * How the harness times GPU work: warm-up, then several repetitions, each
 * timed by GPU timestamps (the sum of the timed compute passes, see
 * `CommandBatcher.beginTiming`) where the device has `timestamp-query`, and
 * always by the host wall clock (record → submit → queue idle) as well.
 * Inputs that would fit in a cache are rotated: the caller allocates
 * {@link rotationCount} copies and repetition `r` uses copy `r % count`.
 */
import type { Hardware } from '../src/gpu/hardware.js';
import { timedPassSeconds } from '../src/gpu/batcher.js';

/**
 * Working sets smaller than this are rotated between repetitions. It is above
 * the last-level cache of current GPUs (50–96 MB L2 on H100/H200/B200, 256 MB
 * Infinity Cache on MI300) and of the CPUs that run software adapters.
 */
export const ROTATE_BYTES = 256 * 1024 * 1024;

/** Copies of a `bytes`-large working set to cycle through (1 when it is large already). */
export function rotationCount(bytes: number, maxCopies = 8): number {
  if (!(bytes > 0)) return 1;
  return Math.max(1, Math.min(maxCopies, Math.ceil(ROTATE_BYTES / bytes)));
}

/**
 * Shortest time one repetition should take. Shorter work is recorded several
 * times per repetition (and the time divided), so that timer resolution
 * (65.536 µs when Dawn quantizes timestamps) and per-submit latency stay
 * small against it.
 */
export const MIN_REPETITION_SECONDS = 0.002;

/** Most times one repetition repeats the work (each iteration may allocate its outputs). */
export const MAX_INNER_ITERATIONS = 64;

/** Iterations per repetition for work that takes `seconds` once. */
export function innerIterations(seconds: number, minSeconds = MIN_REPETITION_SECONDS): number {
  if (!(seconds > 0)) return MAX_INNER_ITERATIONS;
  return Math.max(1, Math.min(MAX_INNER_ITERATIONS, Math.ceil(minSeconds / seconds)));
}

export interface MeasureSpec {
  /** Records one run of the GPU work (no awaiting); `slot` picks the rotated inputs. */
  record: (slot: number) => void;
  /** Timed repetitions (at least 1). */
  reps: number;
  /** Rotation slots; repetition r uses slot r % slots. Default 1. */
  slots?: number;
  /** Warm-up runs before timing; default one per slot (first use of a buffer costs a lazy clear). */
  warmup?: number;
  /** Time with GPU timestamps when the device has them; default true. */
  gpuTimer?: boolean;
  /** Runs per repetition; default chosen from a timed calibration run (see {@link MIN_REPETITION_SECONDS}). */
  inner?: number;
}

export interface Measurement {
  /** Seconds per run of the work, one value per repetition, by the reported timer. */
  seconds: number[];
  /** Host wall-clock seconds per run (record + submit + wait, divided by the runs per repetition). */
  wallSeconds: number[];
  timer: 'gpu' | 'wall';
  /** Timed compute passes per repetition (GPU timer only). */
  passes: number;
  /** Runs of the work per repetition. */
  inner?: number;
}

/** Queries per repetition: a begin/end pair per pass; more passes fall back to wall time. */
const MAX_QUERIES = 4096;

interface Timer {
  querySet: GPUQuerySet;
  resolve: GPUBuffer;
}

const timers = new WeakMap<Hardware, Timer>();

function timerFor(hw: Hardware): Timer {
  let t = timers.get(hw);
  if (!t) {
    t = {
      querySet: hw.device.createQuerySet({ type: 'timestamp', count: MAX_QUERIES, label: 'wgc-bench-timestamps' }),
      resolve: hw.device.createBuffer({ size: MAX_QUERIES * 8, usage: 0x200 | 0x04, label: 'wgc-bench-resolve' }), // QUERY_RESOLVE | COPY_SRC
    };
    timers.set(hw, t);
  }
  return t;
}

/** One timed repetition: `inner` runs starting at slot `first`. */
async function timedRepetition(hw: Hardware, spec: MeasureSpec, timer: Timer | undefined, first: number, inner: number, slots: number) {
  const t0 = performance.now();
  if (timer) hw.batcher.beginTiming(timer.querySet);
  let span;
  try {
    for (let i = 0; i < inner; i++) spec.record((first + i) % slots);
  } finally {
    if (timer) span = hw.batcher.endTiming(timer.resolve);
  }
  await hw.sync();
  const wall = (performance.now() - t0) / 1000;
  let gpu: number | undefined;
  if (timer && span) {
    const bytes = await hw.batcher.read(timer.resolve, 0, Math.max(16, span.passes * 16));
    gpu = span.overflowed ? undefined : timedPassSeconds(bytes, span.passes);
  }
  return { wall, gpu, passes: span?.passes ?? 0, overflowed: span?.overflowed ?? false };
}

/**
 * Runs `spec`: warm-up, a calibration run that decides how many runs one
 * repetition holds, then the timed repetitions. Returns seconds per run.
 */
export async function measureGpu(hw: Hardware, spec: MeasureSpec): Promise<Measurement> {
  const slots = Math.max(1, spec.slots ?? 1);
  const warmup = spec.warmup ?? slots;
  for (let i = 0; i < warmup; i++) spec.record(i % slots);
  await hw.sync();
  const useGpu = (spec.gpuTimer ?? true) && hw.caps.timestampQuery;
  const timer = useGpu ? timerFor(hw) : undefined;
  let inner = spec.inner;
  if (inner === undefined) {
    // GPU time when it reads something; else the wall clock (an overestimate: it includes submit and wait).
    const c = await timedRepetition(hw, spec, timer, 0, 1, slots);
    inner = innerIterations(c.gpu !== undefined && c.gpu > 0 ? c.gpu : c.wall);
  }
  inner = Math.max(1, Math.floor(inner));
  const seconds: number[] = [];
  const wallSeconds: number[] = [];
  let gpuOk = timer !== undefined;
  let passes = 0;
  for (let r = 0; r < Math.max(1, spec.reps); r++) {
    const t = await timedRepetition(hw, spec, timer, r * inner, inner, slots);
    wallSeconds.push(t.wall / inner);
    passes = t.passes;
    // Untimed passes (overflow) or a zero reading would make the GPU figure wrong: use the wall clock instead.
    if (t.gpu === undefined || !(t.gpu > 0)) gpuOk = false;
    else seconds.push(t.gpu / inner);
  }
  return { seconds: gpuOk ? seconds : wallSeconds, wallSeconds, timer: gpuOk ? 'gpu' : 'wall', passes: gpuOk ? passes : 0, inner };
}

/** Frees the timestamp resources of `hw` (before `hw.destroy()`). */
export function releaseTimer(hw: Hardware): void {
  const t = timers.get(hw);
  if (!t) return;
  t.querySet.destroy();
  t.resolve.destroy();
  timers.delete(hw);
}
