/**
 * shaders/smooth.wgsl against the float64 reference (src/modifiers/smoothquant/reference.ts)
 * on fresh random inputs: column statistics (one call, accumulated calls,
 * chunked inputs), AWQ's normalised weight sums for every group shape, the
 * in-place column/row scaling and SmoothQuant's scales. Outputs that a call
 * overwrites are poisoned with NaN first; every GPU call runs in an error
 * scope; the kernels that use workgroup memory go through the race detector.
 */
import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed, randn, rng, uniform } from '../helpers/random.js';
import { expectClose, expectNoRaces } from '../models/helpers.js';
import type { Hardware } from '../../src/gpu/hardware.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { fillWords } from '../../src/gpu/kernels/elementwise.js';
import { makeQuantizationArgs, type QuantizationArgsInput } from '../../src/quantization/args.js';
import { groupGeometry } from '../../src/quantization/layout.js';
import { columnStatistic, normalizedColumnSums, scaleColumns, scaleRows, smoothQuantScales } from '../../src/modifiers/smoothquant/kernels.js';
import { referenceColumnStats, referenceDivideRows, referenceNormalizedColumnSums, referenceScaleColumns, referenceSmoothQuantScales } from '../../src/modifiers/smoothquant/reference.js';

const hardware = useHardware();

/** A poisoned f32 buffer of `n` floats (NaN in every word). */
function poisonedBuffer(hw: Hardware, n: number): Tensor {
  const t = Tensor.empty(hw, [n], 'f32');
  fillWords(hw, t);
  return t;
}

async function read(hw: Hardware, t: Tensor): Promise<Float32Array> {
  return (await t.readF32()).slice();
}

describe('columnStatistic (two-pass column reduction)', () => {
  const shapes: [number, number, number?][] = [[1, 4], [7, 12], [300, 64], [1000, 8], [513, 260], [200, 64, 48]];
  for (const [rows, cols, chunkRows] of shapes) {
    it(`[${rows}, ${cols}]${chunkRows ? `, chunks of ${chunkRows} rows` : ''}: Σ|x|, max|x|, min/max, accumulated over two calls`, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const a = randn(rows * cols, seed, 2);
      const b = randn(rows * cols, seed + 1, 3);
      await inErrorScope(hw, async () => {
        const opts = chunkRows ? { maxChunkBytes: chunkRows * cols * 4 } : {};
        const ta = Tensor.fromData(hw, a, [rows, cols], 'f32', opts);
        const tb = Tensor.fromData(hw, b, [rows, cols], 'f32', opts);
        if (chunkRows && rows > chunkRows) expect(ta.isChunked).toBe(true);
        const ra = referenceColumnStats(a, rows, cols);
        const rb = referenceColumnStats(b, rows, cols);
        for (const stat of ['absSum', 'absMax', 'minMax'] as const) {
          const n = stat === 'minMax' ? 2 * cols : cols;
          const once = poisonedBuffer(hw, n);
          const twice = poisonedBuffer(hw, n);
          columnStatistic(hw, ta, stat, { buffer: once.buffer, accumulate: false });
          columnStatistic(hw, ta, stat, { buffer: twice.buffer, accumulate: false });
          columnStatistic(hw, tb, stat, { buffer: twice.buffer, accumulate: true });
          const g1 = await read(hw, once);
          const g2 = await read(hw, twice);
          const ctx = `seed ${seed} ${stat}`;
          if (stat === 'absSum') {
            const tol = { atol: 1e-5, rtol: 2e-6 * Math.sqrt(rows) + 1e-6 };
            expectClose(g1, ra.absSum, tol, ctx);
            expectClose(g2, ra.absSum.map((v, c) => v + rb.absSum[c]), tol, `${ctx} accumulated`);
          } else if (stat === 'absMax') {
            expect([...g1], ctx).toEqual([...ra.absMax].map(Math.fround));
            expect([...g2], ctx).toEqual([...ra.absMax].map((v, c) => Math.fround(Math.max(v, rb.absMax[c]))));
          } else {
            expect([...g1], ctx).toEqual([...ra.min, ...ra.max].map(Math.fround));
            const min2 = [...ra.min].map((v, c) => Math.min(v, rb.min[c]));
            const max2 = [...ra.max].map((v, c) => Math.max(v, rb.max[c]));
            expect([...g2], ctx).toEqual([...min2, ...max2].map(Math.fround));
          }
          once.dispose();
          twice.dispose();
        }
        ta.dispose();
        tb.dispose();
      });
    });
  }

  it('gives the same bits on every run (no float atomics)', async () => {
    const hw = await hardware();
    const x = randn(4000 * 32, freshSeed());
    await inErrorScope(hw, async () => {
      const t = Tensor.fromData(hw, x, [4000, 32], 'f32');
      const outs: Float32Array[] = [];
      for (let i = 0; i < 3; i++) {
        const o = poisonedBuffer(hw, 32);
        columnStatistic(hw, t, 'absSum', { buffer: o.buffer, accumulate: false });
        outs.push(await read(hw, o));
        o.dispose();
      }
      expect(outs[1]).toEqual(outs[0]);
      expect(outs[2]).toEqual(outs[0]);
    });
  });

  it('rejects a column count that is not a multiple of 4', async () => {
    const hw = await hardware();
    await inErrorScope(hw, async () => {
      const t = Tensor.fromData(hw, new Float32Array(6), [2, 3], 'f32');
      const o = poisonedBuffer(hw, 3);
      expect(() => columnStatistic(hw, t, 'absSum', { buffer: o.buffer, accumulate: false })).toThrow('3 columns is not a multiple of 4');
    });
  });
});

describe('normalizedColumnSums (AWQ weight magnitude per quantization group)', () => {
  const cases: { name: string; args: QuantizationArgsInput; rows: number; cols: number; chunkRows?: number }[] = [
    { name: 'channel', args: { numBits: 4, strategy: 'channel' }, rows: 37, cols: 96 },
    { name: 'group 16', args: { numBits: 4, strategy: 'group', groupSize: 16 }, rows: 20, cols: 64 },
    { name: 'tensor_group 16 (NVFP4)', args: { numBits: 4, type: 'float', strategy: 'tensor_group', groupSize: 16, scaleDtype: 'float8_e4m3fn' }, rows: 12, cols: 48 },
    { name: 'block 8×16, partial blocks', args: { numBits: 8, type: 'float', strategy: 'block', blockStructure: [8, 16] }, rows: 21, cols: 40 },
    { name: 'block 16×16 cut by chunks of 12 rows', args: { numBits: 8, type: 'float', strategy: 'block', blockStructure: [16, 16] }, rows: 40, cols: 32, chunkRows: 12 },
    { name: 'tensor', args: { numBits: 8, strategy: 'tensor' }, rows: 9, cols: 28 },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const w = randn(c.rows * c.cols, seed, 0.05);
      const g = groupGeometry(makeQuantizationArgs(c.args, c.name), c.rows, c.cols);
      const want = referenceNormalizedColumnSums(w, g);
      await inErrorScope(hw, async () => {
        const t = Tensor.fromData(hw, w, [c.rows, c.cols], 'f32', c.chunkRows ? { maxChunkBytes: c.chunkRows * c.cols * 4 } : {});
        const out = poisonedBuffer(hw, c.cols);
        normalizedColumnSums(hw, t, g, { buffer: out.buffer, accumulate: false });
        expectClose(await read(hw, out), want, { atol: 1e-5, rtol: 1e-5 }, `seed ${seed} ${c.name}`);
        // Accumulating a second layer adds its sums.
        normalizedColumnSums(hw, t, g, { buffer: out.buffer, accumulate: true });
        expectClose(await read(hw, out), want.map((v) => 2 * v), { atol: 2e-5, rtol: 1e-5 }, `seed ${seed} ${c.name} accumulated`);
      });
    });
  }
});

describe('channel scaling in place', () => {
  it('scaleColumns multiplies exactly and divides within 2.5 ulp, at a scale offset, on a chunked weight', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const rows = 50;
    const cols = 36;
    const w = randn(rows * cols, seed);
    const scales = uniform(3 * cols, seed + 1, 0.05, 4);
    const s = scales.subarray(2 * cols);
    await inErrorScope(hw, async () => {
      const sT = Tensor.fromData(hw, scales, [3 * cols], 'f32');
      const t = Tensor.fromData(hw, w, [rows, cols], 'f32', { maxChunkBytes: 16 * cols * 4 });
      expect(t.chunks.length).toBe(4);
      scaleColumns(hw, t, { buffer: sT.buffer, offset: 2 * cols, length: cols });
      const got = await t.readF32();
      const want = referenceScaleColumns(w, rows, cols, s);
      for (let i = 0; i < want.length; i++) if (got[i] !== Math.fround(want[i])) throw new Error(`seed ${seed}: element ${i} is ${got[i]}, want ${Math.fround(want[i])}`);
      scaleColumns(hw, t, { buffer: sT.buffer, offset: 2 * cols, length: cols }, { divide: true });
      const back = await t.readF32();
      const wantBack = Array.from(got, (v, i) => v / s[i % cols]);
      expectClose(back, wantBack, { atol: 0, rtol: 2.5 * 2 ** -23 }, `seed ${seed} divide`);
    });
  });

  it('scaleRows divides a norm weight, the last rows of a chunked 2-D weight and a bias', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const n = 24;
    const s = uniform(n, seed, 0.1, 3);
    const norm = uniform(n, seed + 1, 0.8, 1.2);
    const rows = 3 * n;
    const cols = 8;
    const w2 = randn(rows * cols, seed + 2);
    await inErrorScope(hw, async () => {
      const sT = Tensor.fromData(hw, s, [n], 'f32');
      const tn = Tensor.fromData(hw, norm, [n], 'f32');
      scaleRows(hw, tn, { buffer: sT.buffer, length: n });
      expectClose(await tn.readF32(), referenceDivideRows(norm, n, 1, s), { atol: 0, rtol: 2.5 * 2 ** -23 }, `seed ${seed} norm`);
      const t2 = Tensor.fromData(hw, w2, [rows, cols], 'f32', { maxChunkBytes: 20 * cols * 4 });
      expect(t2.isChunked).toBe(true);
      scaleRows(hw, t2, { buffer: sT.buffer, length: n }, { firstRow: rows - n });
      const got = await t2.readF32();
      expectClose(got, referenceDivideRows(w2, rows, cols, s, rows - n), { atol: 0, rtol: 2.5 * 2 ** -23 }, `seed ${seed} last rows`);
      // Rows before firstRow are untouched, bit for bit.
      for (let i = 0; i < (rows - n) * cols; i++) expect(got[i]).toBe(w2[i]);
      scaleRows(hw, tn, { buffer: sT.buffer, length: n }, { multiply: true });
      expectClose(await tn.readF32(), norm, { atol: 0, rtol: 6 * 2 ** -23 }, `seed ${seed} multiply back`);
    });
  });
});

describe('smoothQuantScales', () => {
  for (const [alpha, algorithm] of [[0.5, 'smoothquant'], [0.8, 'smoothquant'], [0, 'smoothquant'], [1, 'smoothquant'], [0.5, 'log_equalization']] as const) {
    it(`${algorithm} α=${alpha}, with zero-range channels and zero weight columns`, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const cols = 300;
      const r = rng(seed);
      const min = new Float32Array(cols);
      const max = new Float32Array(cols);
      const wmax = new Float32Array(cols);
      for (let c = 0; c < cols; c++) {
        min[c] = -r() * (c % 37 === 0 ? 60 : 3);
        max[c] = c % 11 === 0 ? min[c] : r() * 4;
        wmax[c] = c % 13 === 0 ? 0 : r() * 0.2;
      }
      const want = referenceSmoothQuantScales(min, max, wmax, alpha, algorithm);
      await inErrorScope(hw, async () => {
        const mm = Tensor.fromData(hw, Float32Array.of(...min, ...max), [2 * cols], 'f32');
        const wm = Tensor.fromData(hw, wmax, [cols], 'f32');
        const out = poisonedBuffer(hw, cols);
        smoothQuantScales(hw, mm.buffer, wm.buffer, cols, { alpha, algorithm, out });
        expectClose(await out.readF32(), want, { atol: 0, rtol: 4e-6 }, `seed ${seed}`);
      });
    });
  }
});

describe('no data races in the workgroup-memory kernels (wgsl_reflect detectRaces)', () => {
  it('columnPartials (Σ|x|, min/max, normalised) and groupAbsMax', async () => {
    const hw = await hardware();
    const rows = 40;
    const cols = 16;
    const x = randn(rows * cols, 3);
    const common = { rows, cols4: cols / 4, rowsPerBlock: 64, colTiles: 1, nWork: 1, blockBase: 0, maxBase: cols / 4, globalRow: 0, groupRows: 1, groupCols: 8, nGroupCols: 2, _p0: 0 };
    for (const op of [0, 2]) {
      expectNoRaces(hw, { shader: 'smooth', entryPoint: 'columnPartials', flags: { NORM: false }, constants: { OP: op, TX: 4 } }, common, { x, part: new Float32Array(2 * cols) }, [1, 1, 1]);
    }
    expectNoRaces(hw, { shader: 'smooth', entryPoint: 'columnPartials', flags: { NORM: true }, constants: { OP: 3, TX: 4 } }, common, { x, part: new Float32Array(cols), gmax: uniform(rows * 2, 4, 0.5, 1) }, [1, 1, 1]);
    expectNoRaces(
      hw,
      { shader: 'smooth', entryPoint: 'groupAbsMax', flags: { NORM: false } },
      { rows, cols, globalRow: 0, groupRows: 8, groupCols: 8, nGroupCols: 2, firstGroupRow: 0, nWork: 10 },
      { gw: x, groupMax: new Float32Array(10) },
      [2, 1, 1],
    );
  });
});
