import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed, randn } from '../helpers/random.js';
import type { Hardware } from '../../src/gpu/hardware.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { fillWords } from '../../src/gpu/kernels/elementwise.js';
import { createHessian, hessianAccumulate } from '../../src/compression/kernels/hessian.js';
import { paddedSize, squareMatrix } from '../../src/compression/kernels/square.js';
import { createLoopWorkspace, gptqFlags, gptqLoop } from '../../src/compression/kernels/gptq.js';
import { gptqQuantizeLayer, readGptqOutcome, type ObservedQParams } from '../../src/compression/gptq.js';
import { makeQuantizationArgs, type QuantizationArgsInput } from '../../src/quantization/args.js';
import { referenceQuantize } from '../../src/quantization/reference.js';
import { gptqReference, type ActOrder } from '../../src/compression/reference/gptq.js';
import { accumulateHessianSum } from '../../src/compression/reference/linalg.js';
import { fakeQuantizeValue, observeMinMax, scaleIndexing, type QuantFormat, type ScaleLayout } from '../../src/compression/reference/quantize.js';
import { roundTo } from '../../src/quantization/numerics.js';
import { expectNoRaces, padSquare } from './helpers.js';

const hardware = useHardware();

/** A GPU-side observer for the tests: reads W back and runs the reference min/max observer. */
function hostObserver(hw: Hardware, layout: ScaleLayout, fmt: QuantFormat, symmetric: boolean) {
  return async (w: Tensor): Promise<ObservedQParams> => {
    const [rows, cols] = w.shape;
    const q = observeMinMax(await w.readF32(), rows, cols, layout, fmt, symmetric);
    const scale = Tensor.fromData(hw, Float32Array.from(q.scale), [q.scale.length], 'f32');
    const zp = Tensor.fromData(hw, Int32Array.from(q.zeroPoint), [q.zeroPoint.length], 'i32');
    return { scale: { buffer: scale.buffer }, zeroPoint: symmetric ? null : { buffer: zp.buffer }, globalScale: null };
  };
}

/** Elements whose dequantized values (equivalently, codes) differ. */
function mismatches(got: Float32Array, want: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) n++;
  return n;
}

describe('GPTQ loop quantization is compressed-tensors exact (U = I, i.e. round-to-nearest)', () => {
  // Scales, zero points and expected values come from src/quantization's
  // reference (compressed-tensors' observer + fake_quantize); the loop must
  // reproduce its fake-quantized weight bit for bit, ties included.
  const cases: { name: string; args: QuantizationArgsInput; fmt: QuantFormat; layout: ScaleLayout }[] = [
    { name: 'int4 symmetric channel', args: { numBits: 4, strategy: 'channel' }, fmt: { type: 'int', numBits: 4 }, layout: { strategy: 'channel' } },
    { name: 'int4 symmetric group 32', args: { numBits: 4, strategy: 'group', groupSize: 32 }, fmt: { type: 'int', numBits: 4 }, layout: { strategy: 'group', groupSize: 32 } },
    { name: 'int8 asymmetric group 16', args: { numBits: 8, strategy: 'group', groupSize: 16, symmetric: false }, fmt: { type: 'int', numBits: 8 }, layout: { strategy: 'group', groupSize: 16 } },
    { name: 'int4 symmetric block 8×32', args: { numBits: 4, strategy: 'block', blockStructure: [8, 32] }, fmt: { type: 'int', numBits: 4 }, layout: { strategy: 'block', groupSize: 32, blockRows: 8 } },
    { name: 'int8 tensor', args: { numBits: 8, strategy: 'tensor' }, fmt: { type: 'int', numBits: 8 }, layout: { strategy: 'tensor' } },
    { name: 'fp8 e4m3 channel', args: { numBits: 8, type: 'float', strategy: 'channel' }, fmt: { type: 'float', numBits: 8 }, layout: { strategy: 'channel' } },
    { name: 'NVFP4 (fp4 e2m1 tensor_group 16, FP8 scales, global scale)', args: { numBits: 4, type: 'float', strategy: 'tensor_group', groupSize: 16, scaleDtype: 'float8_e4m3fn' }, fmt: { type: 'float', numBits: 4 }, layout: { strategy: 'tensor_group', groupSize: 16 } },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const rows = 40;
      const cols = 96;
      const np = paddedSize(cols);
      const w = randn(rows * cols, seed);
      // Values at exact multiples of a quarter are ties for many scales: include some.
      for (let i = 0; i < rows * cols; i += 7) w[i] = Math.fround(w[i] * 4) / 4;
      const args = makeQuantizationArgs({ ...c.args, observer: 'minmax' });
      const ref = referenceQuantize(w, rows, cols, args);
      const { rowsPerScale, scaleCols, gIdx } = scaleIndexing(c.layout, rows, cols);
      const zps = ref.zeroPoints ?? new Int32Array(ref.scales.length);
      await inErrorScope(hw, async () => {
        const wt = Tensor.fromData(hw, w, [rows, cols], 'f32');
        const eye = new Float32Array(np * np);
        for (let i = 0; i < np; i++) eye[i * np + i] = 1;
        const u = squareMatrix(hw, np);
        u.write(eye);
        const sEff = ref.globalScale === null ? ref.scales : Float64Array.from(ref.scales, (s) => Math.fround(s / ref.globalScale!));
        const ws = createLoopWorkspace(hw, rows, np);
        gptqLoop(hw, wt, u, {
          format: c.fmt,
          scale: { buffer: Tensor.fromData(hw, Float32Array.from(sEff), [sEff.length], 'f32').buffer },
          zeroPoint: { buffer: Tensor.fromData(hw, zps, [zps.length], 'i32').buffer },
          gIdx: Tensor.fromData(hw, Uint32Array.from(gIdx), [cols], 'u32'),
          rowsPerScale,
          scaleCols,
        }, 32, ws);
        const got = await wt.readF32();
        const losses = await ws.losses.readF32();
        let bad = 0;
        let mine = 0;
        for (let r = 0; r < rows; r++) {
          let loss = 0;
          for (let j = 0; j < cols; j++) {
            const i = r * cols + j;
            if (got[i] !== ref.fake[i]) bad++;
            const k = Math.floor(r / rowsPerScale) * scaleCols + gIdx[j];
            if (fakeQuantizeValue(w[i], sEff[k], zps[k], c.fmt) !== ref.fake[i]) mine++;
            loss += (w[i] - ref.fake[i]) ** 2 / 2;
          }
          expect(Math.abs(losses[r] - loss)).toBeLessThanOrEqual(1e-5 * loss + 1e-30);
        }
        expect(bad, `seed ${seed}: elements differing from src/quantization's reference fake_quantize`).toBe(0);
        expect(mine, 'this module\'s float64 reference agrees with src/quantization\'s').toBe(0);
      });
    });
  }

  it('bf16 scales: the dequantized value is rounded to bf16 as torch computes it in the scale dtype', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const rows = 24;
    const cols = 64;
    const np = paddedSize(cols);
    const w = randn(rows * cols, seed);
    const fmt: QuantFormat = { type: 'int', numBits: 8 };
    const q = observeMinMax(w, rows, cols, { strategy: 'channel' }, fmt, false);
    const scale = Float64Array.from(q.scale, (s) => roundTo(s, 'bf16'));
    await inErrorScope(hw, async () => {
      const wt = Tensor.fromData(hw, w, [rows, cols], 'f32');
      const u = squareMatrix(hw, np);
      const eye = new Float32Array(np * np);
      for (let i = 0; i < np; i++) eye[i * np + i] = 1;
      u.write(eye);
      gptqLoop(hw, wt, u, {
        format: fmt,
        scale: { buffer: Tensor.fromData(hw, Float32Array.from(scale), [rows], 'f32').buffer },
        zeroPoint: { buffer: Tensor.fromData(hw, Int32Array.from(q.zeroPoint), [rows], 'i32').buffer },
        gIdx: Tensor.fromData(hw, new Uint32Array(cols), [cols], 'u32'),
        rowsPerScale: 1,
        scaleCols: 1,
        scaleDtype: 'bf16',
      }, 64, createLoopWorkspace(hw, rows, np));
      const got = await wt.readF32();
      let bad = 0;
      for (let i = 0; i < w.length; i++) if (got[i] !== fakeQuantizeValue(w[i], scale[Math.floor(i / cols)], q.zeroPoint[Math.floor(i / cols)], fmt, 'bf16')) bad++;
      expect(bad, `seed ${seed}`).toBe(0);
    });
  });
});

/** Random weights with some outliers; a random positive definite Hessian from inputs X. */
function randomLayer(rows: number, cols: number, seed: number, tokens: number): { w: Float32Array; x: Float32Array } {
  const w = randn(rows * cols, seed, 0.05);
  const x = randn(tokens * cols, seed + 1);
  const colScale = randn(cols, seed + 2).map((v) => 0.3 + Math.abs(v));
  for (let t = 0; t < tokens; t++) for (let j = 0; j < cols; j++) x[t * cols + j] *= colScale[j];
  return { w, x };
}

describe('GPTQ on the GPU against the float64 reference', () => {
  const cases: { name: string; rows: number; cols: number; blockSize: number; actorder: ActOrder; layout: ScaleLayout; fmt: QuantFormat; symmetric: boolean; chunkRows?: number; dead?: number[] }[] = [
    { name: 'int4 channel, block 128, no actorder', rows: 64, cols: 200, blockSize: 128, actorder: null, layout: { strategy: 'channel' }, fmt: { type: 'int', numBits: 4 }, symmetric: true },
    { name: 'int4 group 32, actorder static, block 64, a dead column', rows: 48, cols: 192, blockSize: 64, actorder: 'static', layout: { strategy: 'group', groupSize: 32 }, fmt: { type: 'int', numBits: 4 }, symmetric: true, dead: [17] },
    { name: 'int4 asymmetric group 64, actorder group (weight_g_idx), block 200 (sub-blocks), chunked H and W', rows: 72, cols: 256, blockSize: 200, actorder: 'group', layout: { strategy: 'group', groupSize: 64 }, fmt: { type: 'int', numBits: 4 }, symmetric: false, chunkRows: 64 },
    { name: 'fp8 channel, actorder weight', rows: 40, cols: 130, blockSize: 128, actorder: 'weight', layout: { strategy: 'channel' }, fmt: { type: 'float', numBits: 8 }, symmetric: true },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const np = paddedSize(c.cols);
      const tokens = 3 * c.cols;
      const { w, x } = randomLayer(c.rows, c.cols, seed, tokens);
      for (const d of c.dead ?? []) for (let t = 0; t < tokens; t++) x[t * c.cols + d] = 0;
      // Two "samples" of tokens/2 each: H = (2XᵀX summed) / 2.
      const h = new Float64Array(c.cols * c.cols);
      accumulateHessianSum(h, x, tokens, c.cols);
      for (let i = 0; i < h.length; i++) h[i] /= 2;
      const observe = (m: Float64Array, r: number, k: number) => observeMinMax(m, r, k, c.layout, c.fmt, c.symmetric);
      const ref = gptqReference(w, c.rows, c.cols, h, { blockSize: c.blockSize, dampFrac: 0.01, actorder: c.actorder, format: c.fmt, layout: c.layout, observe });
      expect(ref.ok).toBe(true);
      await inErrorScope(hw, async () => {
        const chunk = c.chunkRows ? c.chunkRows * np * 4 : undefined;
        const hg = createHessian(hw, c.cols, chunk);
        const half = tokens / 2;
        for (const part of [x.subarray(0, half * c.cols), x.subarray(half * c.cols)]) {
          const xt = Tensor.fromData(hw, part, [half, c.cols], 'f32');
          hessianAccumulate(hw, hg, c.cols, xt, 1, 2);
          xt.dispose();
        }
        const wt = Tensor.fromData(hw, w, [c.rows, c.cols], 'f32', c.chunkRows ? { maxChunkBytes: 16 * c.cols * 4 } : {});
        const res = await gptqQuantizeLayer(hw, wt, hg, 2, {
          blockSize: c.blockSize, dampFrac: 0.01, actorder: c.actorder, format: c.fmt, layout: c.layout,
          observe: hostObserver(hw, c.layout, c.fmt, c.symmetric), maxChunkBytes: chunk,
        });
        const got = await res.weight.readF32();
        const bad = mismatches(got, ref.weight);
        const { loss, failed } = await readGptqOutcome(res);
        expect(failed).toBe(false);
        console.log(`${c.name}: ${bad}/${got.length} codes differ (${((100 * bad) / got.length).toFixed(3)}%), loss ${loss.toPrecision(6)} vs ${ref.loss.toPrecision(6)}`);
        expect(bad / got.length, `seed ${seed}`).toBeLessThanOrEqual(0.001);
        expect(Math.abs(loss - ref.loss)).toBeLessThanOrEqual(1e-3 * ref.loss);
        // The input weight is untouched; the scales are the observer's.
        expect(Array.from(await wt.readF32())).toEqual(Array.from(w));
        const obsScale = new Float32Array(await hw.batcher.read(res.observed.scale.buffer, 0, ref.scale.length * 4));
        expect(Array.from(obsScale)).toEqual(Array.from(Float32Array.from(ref.scale)));
        if (c.actorder === 'group') expect(Array.from(await res.gIdx!.readU32())).toEqual(Array.from(ref.gIdx!));
        else expect(res.gIdx).toBeUndefined();
      });
    });
  }

  it('falls back to round-to-nearest when the Hessian is not positive definite (as llm-compressor warns and does)', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const rows = 32;
    const cols = 100;
    const layout: ScaleLayout = { strategy: 'group', groupSize: 25 };
    const fmt: QuantFormat = { type: 'int', numBits: 4 };
    const w = randn(rows * cols, seed, 0.05);
    const v = randn(cols, seed + 1);
    const h = new Float64Array(cols * cols);
    for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) h[i * cols + j] = Math.fround((i === j ? 1 : 0) - 5 * v[i] * v[j]);
    const observe = (m: Float64Array, r: number, k: number) => observeMinMax(m, r, k, layout, fmt, true);
    const ref = gptqReference(w, rows, cols, h, { blockSize: 128, dampFrac: 0.01, actorder: null, format: fmt, layout, observe });
    expect(ref.ok).toBe(false);
    await inErrorScope(hw, async () => {
      const np = paddedSize(cols);
      const hg = createHessian(hw, cols);
      const upper = padSquare(h, cols, np);
      for (let i = 0; i < np; i++) for (let j = 0; j < i; j++) upper[i * np + j] = 0;
      hg.write(upper);
      const wt = Tensor.fromData(hw, w, [rows, cols], 'f32');
      const res = await gptqQuantizeLayer(hw, wt, hg, undefined, { blockSize: 128, dampFrac: 0.01, actorder: null, format: fmt, layout, observe: hostObserver(hw, layout, fmt, true) });
      const { failed } = await readGptqOutcome(res);
      expect(failed).toBe(true);
      expect(mismatches(await res.weight.readF32(), ref.weight)).toBe(0);
    });
  });

  it('blockUpdate has no data races (detectRaces, 8×8 tile)', async () => {
    const hw = await hardware();
    const u = { rows: 8, rowStart: 0, cols: 16, np: 16, i1: 0, count: 8, errStride: 8, rowsPerScale: 1, scaleCols: 1, pruneN: 0, pruneM: 1, maskWords: 1, existWords: 1, c0: 8, qmin: 0, qmax: 0, maskOffset: 0, dqRound: 0, _p1: 0, _p2: 0 };
    expectNoRaces(hw, { shader: 'gptq', entryPoint: 'blockUpdate', flags: gptqFlags() }, u,
      { w: randn(8 * 16, 1), err: randn(64, 2), ublk: randn(8 * 16, 3) }, [1, 1, 1],
      [['const TILE: u32 = 64u;', 'const TILE: u32 = 8u;'], ['const KC: u32 = 16u;', 'const KC: u32 = 8u;']]);
  });
});
