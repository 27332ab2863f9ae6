import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed, rng } from '../helpers/random.js';
import { makeQuantizationArgs, type QuantizationArgs } from '../../src/quantization/args.js';
import { presetScheme } from '../../src/quantization/presets.js';
import { laneElements, planQuantization, QuantizationError, type QuantizedWeight } from '../../src/quantization/quantizeWeight.js';
import type { ReferenceResult } from '../../src/quantization/reference.js';
import { edgyWeight, expectSame, runBoth } from './helpers.js';

const hardware = useHardware();

/** The error sums (one partial per group on the subgroup paths) against float64. */
function expectErrorSums(gpu: QuantizedWeight, ref: ReferenceResult, w: Float32Array): void {
  let e2 = 0;
  let x2 = 0;
  for (let i = 0; i < w.length; i++) {
    e2 += (w[i] - ref.fake[i]) ** 2;
    x2 += w[i] ** 2;
  }
  expect(Math.abs(gpu.normSquared - x2)).toBeLessThanOrEqual(1e-4 * x2);
  expect(Math.abs(gpu.errorSquared - e2)).toBeLessThanOrEqual(1e-2 * e2 + 1e-30);
}

/** The lanes path (quantizeLanes): one-row power-of-two groups held by clusters of subgroup lanes. */
describe('quantizeLanes equals the float64 reference of compressed-tensors', () => {
  it('is chosen for one-row power-of-two groups on a device with subgroups, and not without', async () => {
    const hw = await hardware();
    const args = presetScheme('W4A16').weights!;
    const gpu = { subgroups: true, subgroupMinSize: 8, software: false };
    expect(planQuantization(args, 4, 256, {}, false, gpu).path).toBe('lanes');
    expect(planQuantization(args, 4, 256, {}, false, { ...gpu, subgroups: false }).path).toBe('groups');
    // Groups that are not a power of two wide keep the older paths.
    expect(planQuantization(makeQuantizationArgs({ numBits: 8, strategy: 'channel' }), 4, 200, {}, false, gpu).path).toBe('groups');
    expect(planQuantization(makeQuantizationArgs({ numBits: 4, strategy: 'group', groupSize: 96 }), 4, 192, {}, false, gpu).path).not.toBe('lanes');
    // A GPU keeps the fewest elements per invocation (coalesced loads); a CPU adapter takes 32.
    expect(laneElements(4, 128, 32)).toBe(8);
    expect(laneElements(4, 128, 8)).toBe(16);
    expect(laneElements(4, 128, 8, true)).toBe(32);
    expect(laneElements(3, 128, 32)).toBe(32);
    expect(laneElements(2, 128, 32)).toBe(16);
    expect(laneElements(4, 16, 8, true)).toBe(16);
    expect(laneElements(4, 1024, 8)).toBe(0);
    if (hw.caps.subgroups) {
      await inErrorScope(hw, async () => {
        // A CPU adapter takes the lanes path for large weights only (compile time); force it here.
        const { raw } = await runBoth(hw, edgyWeight(4, 256, freshSeed(), 128), 4, 256, args, hw.info.isFallbackAdapter ? { laneElements: 32 } : {});
        expect(raw.path).toBe('lanes');
      });
    }
  });

  /** Quantizes on the lanes path with `laneElements` per invocation and checks everything against float64. */
  async function check(name: string, args: QuantizationArgs, rows: number, cols: number, dtype: 'f32' | 'bf16', laneElements: number, fake: boolean, jitter = false) {
    const hw = await hardware();
    const seed = freshSeed();
    const w = edgyWeight(rows, cols, seed, args.groupSize ?? cols, dtype);
    await inErrorScope(hw, async () => {
      const { gpu, ref, raw } = await runBoth(hw, w, rows, cols, args, { dtype, laneElements, fake, simulateInexactDivision: jitter });
      expect(raw.path).toBe('lanes');
      expectSame(`${name} ${dtype} EPT ${laneElements} fake ${fake} jitter ${jitter} seed ${seed}`, gpu, ref);
      expectErrorSums(gpu, ref, w);
    });
  }

  it('W4A16: 16 and 32 elements per lane, f32 and bf16, with and without the fake-quantized output', async () => {
    if (!(await hardware()).caps.subgroups) return;
    const args = presetScheme('W4A16').weights!;
    for (const dtype of ['f32', 'bf16'] as const) {
      for (const ept of [16, 32]) for (const fake of [true, false]) await check('W4A16', args, 6, 256, dtype, ept, fake);
    }
  });

  it('other widths and group sizes: asymmetric, 8-bit, 3-bit (fields across words), group 32, NVFP4 with and without the fake output', async () => {
    if (!(await hardware()).caps.subgroups) return;
    await check('W4A16_ASYM', presetScheme('W4A16_ASYM').weights!, 5, 384, 'f32', 32, true);
    await check('W8A16', presetScheme('W8A16').weights!, 4, 256, 'f32', 16, false);
    await check('W3A16', presetScheme('W3A16').weights!, 4, 256, 'bf16', 32, true);
    await check('int4 group 32 asym', makeQuantizationArgs({ numBits: 4, strategy: 'group', groupSize: 32, symmetric: false }), 5, 96, 'f32', 8, true);
    await check('NVFP4A16', presetScheme('NVFP4A16').weights!, 6, 64, 'f32', 8, true);
    await check('NVFP4A16', presetScheme('NVFP4A16').weights!, 6, 96, 'f32', 16, false);
    await check('NVFP4A16', presetScheme('NVFP4A16').weights!, 4, 256, 'bf16', 8, false);
  });

  it('stays exact when every hardware quotient is off by up to ±2 ulp (the fixup pass redoes those near a step)', async () => {
    if (!(await hardware()).caps.subgroups) return;
    // Without the fake output, 4- and 8-bit codes take the packed-halves path
    // with the per-lane tie decision; with it, the per-element path.
    for (const fake of [false, true]) {
      await check('W4A16', presetScheme('W4A16').weights!, 6, 512, 'f32', 32, fake, true);
      await check('W8A16', presetScheme('W8A16').weights!, 4, 256, 'f32', 16, fake, true);
      await check('W4A16_ASYM', presetScheme('W4A16_ASYM').weights!, 5, 256, 'f32', 32, fake, true);
      // Without the fake output, NVFP4 takes the branch-free E2M1 path.
      await check('NVFP4A16', presetScheme('NVFP4A16').weights!, 6, 64, 'f32', 16, fake, true);
    }
  });

  it('symmetric scales next to binade edges equal the exact division (integer scale shortcut)', async () => {
    const hw = await hardware();
    if (!hw.caps.subgroups) return;
    const seed = freshSeed();
    const r = rng(seed);
    const bits = new Uint32Array(1);
    const f = new Float32Array(bits.buffer);
    /** The f32 whose bits are `b`. */
    const fromBits = (b: number): number => { bits[0] = b >>> 0; return f[0]; };
    for (const name of ['W4A16', 'W8A16'] as const) {
      const args = presetScheme(name).weights!;
      const half = (2 ** args.numBits - 1) / 2;
      const rows = 192;
      const cols = 128;
      const w = new Float32Array(rows * cols);
      for (let row = 0; row < rows; row++) {
        // A target scale whose significand sits at or next to a binade edge
        // (or anywhere, one row in four), times a power of two; max|x| is
        // that scale times halfRange, moved by up to ±2 ulp.
        // Every third row: max|x| / halfRange just below a power of two, where
        // the next float down is half an ulp away.
        const edges = [0x800000, 0x800001, 0x800002, 0xffffff, 0xfffffe, 0xfffffd];
        const sig = row % 4 === 3 ? 0x800000 + Math.floor(r() * 0x800000) : edges[row % edges.length];
        const exp = 100 + Math.floor(r() * 40);
        let amax: number;
        if (row % 3 === 0) {
          amax = Math.fround(2 ** (exp - 127) * half * (1 - (0.2 + 0.6 * r()) * 2 ** -24));
        } else {
          f[0] = fromBits((exp << 23) | (sig & 0x7fffff)) * half;
          amax = fromBits(bits[0] + Math.floor(r() * 5) - 2);
        }
        for (let c = 0; c < cols; c++) w[row * cols + c] = Math.fround((r() * 2 - 1) * amax);
        w[row * cols + Math.floor(r() * cols)] = r() < 0.5 ? amax : -amax;
        w[row * cols + Math.floor(r() * cols)] = -amax;
      }
      await inErrorScope(hw, async () => {
        const { gpu, ref, raw } = await runBoth(hw, w, rows, cols, args, { laneElements: 32, fake: false });
        expect(raw.path).toBe('lanes');
        expectSame(`${name} binade edges seed ${seed}`, gpu, ref);
      });
    }
  });

  it('quantizeRows (a subgroup per channel or wide group) equals the float64 reference, with ±2 ulp quotients too', async () => {
    const hw = await hardware();
    if (!hw.caps.subgroups) return;
    const sg = hw.info.subgroupMaxSize ?? 128;
    // Columns: powers of two and 3 · 128 · subgroup (a group of 24 chunks, not a power of two).
    const cases: [string, QuantizationArgs, number][] = [
      ['int8 channel', makeQuantizationArgs({ numBits: 8, strategy: 'channel' }), 128 * sg],
      ['int8 channel, 3 passes', makeQuantizationArgs({ numBits: 8, strategy: 'channel' }), 48 * sg],
      ['FP8 channel', presetScheme('FP8_DYNAMIC').weights!, 128 * sg],
      ['int4 channel asym', makeQuantizationArgs({ numBits: 4, strategy: 'channel', symmetric: false }), 48 * sg],
      // Wider than a lane cluster can hold (lanes take groups up to subgroup × 32).
      ['int4 group wide', makeQuantizationArgs({ numBits: 4, strategy: 'group', groupSize: 64 * sg }), 128 * sg],
    ];
    for (const [name, args, cols] of cases) {
      for (const [fake, jitter] of [[false, false], [true, true], [false, true]] as const) {
        const rows = 5;
        const seed = freshSeed();
        const w = edgyWeight(rows, cols, seed, args.groupSize ?? cols, 'f32');
        await inErrorScope(hw, async () => {
          const { gpu, ref, raw } = await runBoth(hw, w, rows, cols, args, { laneElements: 16, fake, simulateInexactDivision: jitter });
          expect(raw.path).toBe('rows');
          expectSame(`${name} fake ${fake} jitter ${jitter} seed ${seed}`, gpu, ref);
          expectErrorSums(gpu, ref, w);
        });
      }
    }
  });

  it('per-tensor scales (FP8, int8, int4) on the tensor path equal the float64 reference, with ±2 ulp quotients too', async () => {
    const hw = await hardware();
    if (!hw.caps.subgroups) return;
    const gpu = { subgroups: true, subgroupMinSize: 8, software: false };
    expect(planQuantization(presetScheme('FP8').weights!, 4, 96, {}, false, gpu).path).toBe('tensor');
    expect(planQuantization(makeQuantizationArgs({ numBits: 8, strategy: 'tensor', symmetric: false }), 4, 96, {}, false, gpu).path).toBe('stats');
    expect(planQuantization(presetScheme('FP8').weights!, 4, 96, {}, false, { ...gpu, subgroups: false }).path).toBe('stats');
    const cases: [string, QuantizationArgs][] = [
      ['FP8 tensor', presetScheme('FP8').weights!],
      ['int8 tensor', makeQuantizationArgs({ numBits: 8, strategy: 'tensor' })],
      ['int4 tensor', makeQuantizationArgs({ numBits: 4, strategy: 'tensor' })],
    ];
    // 5 × 96 elements: 15 chunks of 32 or 60 of 8, so the last lane cluster is partial.
    const rows = 5;
    const cols = 96;
    for (const [name, args] of cases) {
      for (const [ept, fake, jitter] of [[32, false, false], [8, true, true], [32, false, true]] as const) {
        const seed = freshSeed();
        const w = edgyWeight(rows, cols, seed, cols, 'f32');
        await inErrorScope(hw, async () => {
          const { gpu: q, ref, raw } = await runBoth(hw, w, rows, cols, args, { laneElements: ept, fake, simulateInexactDivision: jitter });
          expect(raw.path).toBe('tensor');
          expectSame(`${name} EPT ${ept} fake ${fake} jitter ${jitter} seed ${seed}`, q, ref);
          expectErrorSums(q, ref, w);
        });
      }
    }
    // A scale outside the hardware quotient's range (here subnormal) sends every
    // cluster to the fixup pass whole; all zeros too. (The error sums of such
    // values underflow in f32, so only the codes and scales are compared.)
    const seed = freshSeed();
    const tiny = edgyWeight(rows, cols, seed, cols, 'f32').map((x) => Math.fround(x * 1e-36));
    for (const [label, w] of [['tiny', tiny], ['zeros', new Float32Array(rows * cols)]] as const) {
      await inErrorScope(hw, async () => {
        const { gpu: q, ref, raw } = await runBoth(hw, w, rows, cols, presetScheme('FP8').weights!, { laneElements: 8, fake: true });
        expect(raw.path).toBe('tensor');
        expectSame(`FP8 tensor ${label} seed ${seed}`, q, ref);
      });
    }
  });

  it('FP8 codes on exact halfway points stay exact with ±2 ulp quotients (the margin sends them to the fixup pass)', async () => {
    const hw = await hardware();
    if (!hw.caps.subgroups) return;
    const sg = hw.info.subgroupMaxSize ?? 128;
    const rows = 4;
    const cols = 64 * sg;
    const seed = freshSeed();
    const r = rng(seed);
    // Each channel's max|x| is 1.75, so its scale is 1.75 / 448 = 2^-8 and x / scale = 256·x exactly:
    // every other element sits exactly halfway between two E4M3 values (a tie, to even).
    const w = new Float32Array(rows * cols);
    for (let i = 0; i < w.length; i++) {
      const e = -6 + Math.floor(r() * 15);
      const m = Math.floor(r() * 8);
      const half = (1 + (m + 0.5) / 8) * 2 ** e;
      w[i] = (r() < 0.5 ? -1 : 1) * (i % 2 === 0 ? Math.min(half, 440) : Math.fround(r() * 400)) / 256;
    }
    for (let row = 0; row < rows; row++) w[row * cols + Math.floor(r() * cols)] = 1.75;
    await inErrorScope(hw, async () => {
      const { gpu, ref, raw } = await runBoth(hw, w, rows, cols, presetScheme('FP8_DYNAMIC').weights!, { laneElements: 16, fake: false, simulateInexactDivision: true });
      expect(raw.path).toBe('rows');
      expectSame(`FP8 halfway seed ${seed}`, gpu, ref);
    });
  });

  it('NVFP4 codes on exact E2M1 halfway points stay exact with ±2 ulp quotients', async () => {
    const hw = await hardware();
    if (!hw.caps.subgroups) return;
    const rows = 4;
    const cols = 128;
    const seed = freshSeed();
    const r = rng(seed);
    // Every group of 16 holds ±6, so the tensor's global scale is 448 / 6 · 6 = 448, every
    // group's FP8 scale is 448 and its effective scale 1: x / scale = x, and the halfway
    // values below are exact ties on the E2M1 grid (to the even code).
    const ties = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5];
    const w = new Float32Array(rows * cols);
    for (let i = 0; i < w.length; i++) {
      const sign = r() < 0.5 ? -1 : 1;
      w[i] = sign * (i % 16 === 0 ? 6 : r() < 0.6 ? ties[Math.floor(r() * ties.length)] : Math.fround(r() * 6));
    }
    for (const jitter of [false, true]) {
      await inErrorScope(hw, async () => {
        const { gpu, ref, raw } = await runBoth(hw, w, rows, cols, presetScheme('NVFP4A16').weights!, { laneElements: 16, fake: false, simulateInexactDivision: jitter });
        expect(raw.path).toBe('lanes');
        expectSame(`NVFP4 halfway jitter ${jitter} seed ${seed}`, gpu, ref);
      });
    }
  });

  it('NVFP4 groups far below the tensor maximum (subnormal and zero FP8 scales) equal the reference', async () => {
    const hw = await hardware();
    if (!hw.caps.subgroups) return;
    const rows = 8;
    const cols = 128;
    const seed = freshSeed();
    const r = rng(seed);
    // Group maxima log-uniform over 1 … 1e-9 of the tensor's: FP8 scales from 448 down
    // through the E4M3 subnormals (below 2^-6) to zero (then eps).
    const w = new Float32Array(rows * cols);
    for (let g = 0; g < w.length / 16; g++) {
      const m = g === 0 ? 1 : 10 ** (-9 * r());
      for (let i = 0; i < 16; i++) w[16 * g + i] = Math.fround((r() * 2 - 1) * m);
    }
    for (const jitter of [false, true]) {
      await inErrorScope(hw, async () => {
        const { gpu, ref, raw } = await runBoth(hw, w, rows, cols, presetScheme('NVFP4A16').weights!, { laneElements: 16, fake: false, simulateInexactDivision: jitter });
        expect(raw.path).toBe('lanes');
        expectSame(`NVFP4 small groups jitter ${jitter} seed ${seed}`, gpu, ref);
      });
    }
  });

  it('an elements-per-lane value the device cannot run is a QuantizationError', async () => {
    const gpu = { subgroups: true, subgroupMinSize: 8, software: false };
    const args = presetScheme('W4A16').weights!;
    for (const bad of [4, 8, 12, 64]) {
      expect(() => planQuantization(args, 4, 256, { name: 'w', laneElements: bad }, false, gpu)).toThrow(QuantizationError);
    }
  });
});
