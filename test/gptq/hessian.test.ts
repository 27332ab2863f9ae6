import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { randn, freshSeed } from '../helpers/random.js';
import { Tensor } from '../../src/gpu/tensor.js';
import {
  createHessian, hessianAccumulate, hessianScale, columnSquareNormsAccumulate, createDiagonal, recordDiagonal, dampen, activationOrder, permuteHessian,
} from '../../src/compression/kernels/hessian.js';
import { paddedSize, squareMatrix } from '../../src/compression/kernels/square.js';
import { accumulateHessianSum, accumulateHessianMean, accumulateColumnNorms, dampenHessian, activationOrder as refOrder } from '../../src/compression/reference/linalg.js';
import { expectNoRaces } from './helpers.js';

const hardware = useHardware();

/** Σ_t |2·x_ti·x_tj| per entry: the scale of the rounding error of a sum of products. */
function magnitudes(x: Float32Array, tokens: number, n: number): Float64Array {
  const m = new Float64Array(n * n);
  const ax = Float32Array.from(x, Math.abs);
  accumulateHessianSum(m, ax, tokens, n);
  return m;
}

/** Checks the upper triangle of the GPU Hessian (np-wide) against `want` with error ≤ c·eps·mag. */
function expectUpperClose(got: Float32Array, np: number, want: Float64Array, mag: Float64Array, n: number, c: number, seed: number): void {
  let worst = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const err = Math.abs(got[i * np + j] - want[i * n + j]);
      const tol = c * 2 ** -24 * mag[i * n + j] + 1e-30;
      if (!(err <= tol)) throw new Error(`seed ${seed}: H[${i},${j}] = ${got[i * np + j]}, want ${want[i * n + j]} (tol ${tol})`);
      worst = Math.max(worst, err / tol);
    }
  }
  // Padding rows and columns stay exactly 0 off the diagonal.
  for (let i = 0; i < np; i++) for (let j = Math.max(i, n); j < np; j++) expect(got[i * np + j]).toBe(0);
  expect(worst).toBeLessThanOrEqual(1);
}

describe('hessianAccumulate', () => {
  for (const { n, batches, chunkRows } of [
    { n: 100, batches: [37, 5], chunkRows: undefined },
    { n: 130, batches: [20, 33], chunkRows: 64 },
  ]) {
    it(`GPTQ sum form, n=${n}, batches ${batches.join('+')}${chunkRows ? `, H in ${chunkRows}-row chunks, X chunked` : ''}`, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const np = paddedSize(n);
      await inErrorScope(hw, async () => {
        const h = createHessian(hw, n, chunkRows ? chunkRows * np * 4 : undefined);
        if (chunkRows) expect(h.chunks.length).toBe(np / chunkRows);
        const want = new Float64Array(n * n);
        const mag = new Float64Array(n * n);
        let tokensTotal = 0;
        batches.forEach((tokens, b) => {
          const x = randn(tokens * n, seed + b);
          accumulateHessianSum(want, x, tokens, n);
          const m = magnitudes(x, tokens, n);
          for (let i = 0; i < m.length; i++) mag[i] += m[i];
          // A chunked X (8 rows per chunk) exercises the per-chunk accumulation.
          const xt = Tensor.fromData(hw, x, [tokens, n], 'f32', chunkRows ? { maxChunkBytes: 8 * n * 4 } : {});
          hessianAccumulate(hw, h, n, xt, 1, 2);
          xt.dispose();
          tokensTotal += tokens;
        });
        hessianScale(hw, h, 1 / batches.length);
        for (let i = 0; i < want.length; i++) {
          want[i] /= batches.length;
          mag[i] /= batches.length;
        }
        expectUpperClose(await h.readF32(), np, want, mag, n, tokensTotal + 4, seed);
      });
    });
  }

  it('SparseGPT running-average form (alpha = s/(s+k), beta = 2/(s+k))', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const n = 72;
    const np = paddedSize(n);
    await inErrorScope(hw, async () => {
      const h = createHessian(hw, n);
      const want = new Float64Array(n * n);
      const mag = new Float64Array(n * n);
      let samples = 0;
      for (const [k, tokens] of [[2, 24], [1, 9], [3, 40]]) {
        const x = randn(tokens * n, seed + samples);
        accumulateHessianMean(want, samples, k, x, tokens, n);
        const m = magnitudes(x, tokens, n);
        for (let i = 0; i < m.length; i++) mag[i] = (mag[i] * samples) / (samples + k) + m[i] / (samples + k);
        const xt = Tensor.fromData(hw, x, [tokens, n], 'f32');
        hessianAccumulate(hw, h, n, xt, samples / (samples + k), 2 / (samples + k));
        samples += k;
      }
      expectUpperClose(await h.readF32(), np, want, mag, n, 80, seed);
    });
  });

  it('has no data races (wgsl_reflect detectRaces, one tile)', async () => {
    const hw = await hardware();
    const n = 64;
    const tokens = 20;
    expectNoRaces(
      hw,
      { shader: 'hessian', entryPoint: 'hessianAccumulate' },
      { n, np: 64, rowStart: 0, rows: 64, tokens, tileRowStart: 0, tileRows: 1, fix: 0, alpha: 1, beta: 2, dampFrac: 0, srcRowStart: 0, srcRows: 0, _p0: 0, _p1: 0, _p2: 0 },
      { x: randn(tokens * n, 3), h4: new Float32Array(64 * 64) },
      [1, 1, 1],
    );
    // The detector does see the race when the barrier after the slice's use is removed.
    expect(() =>
      expectNoRaces(
        hw,
        { shader: 'hessian', entryPoint: 'hessianAccumulate' },
        { n, np: 64, rowStart: 0, rows: 64, tokens, tileRowStart: 0, tileRows: 1, fix: 0, alpha: 1, beta: 2, dampFrac: 0, srcRowStart: 0, srcRows: 0, _p0: 0, _p1: 0, _p2: 0 },
        { x: randn(tokens * n, 3), h4: new Float32Array(64 * 64) },
        [1, 1, 1],
        [[/(acc\[3\] = fma[^\n]*\n\s*\}\s*)workgroupBarrier\(\);/, '$1']],
      ),
    ).toThrow(/races/);
  });
});

describe('workgroup-memory kernels of the preparation', () => {
  it('dampening (tree sum) and activationOrder (staged diagonal) have no data races', async () => {
    const hw = await hardware();
    const u = { n: 13, np: 64, rowStart: 0, rows: 64, tokens: 0, tileRowStart: 0, tileRows: 0, fix: 0, alpha: 1, beta: 1, dampFrac: 0.01, srcRowStart: 0, srcRows: 0, _p0: 0, _p1: 0, _p2: 0 };
    const diag = randn(64, 4);
    expectNoRaces(hw, { shader: 'hessian', entryPoint: 'dampening', constants: { WG: 8 } }, u, { diag, stats: new Float32Array(4) }, [1, 1, 1]);
    expectNoRaces(hw, { shader: 'hessian', entryPoint: 'activationOrder', constants: { WG: 8 } }, u, { diag, perm: new Uint32Array(64) }, [2, 1, 1]);
  });
});

describe('columnSquareNormsAccumulate (Wanda)', () => {
  it('running mean of per-column squared norms, chunked inputs', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const n = 93;
    await inErrorScope(hw, async () => {
      const s = Tensor.fromData(hw, new Float32Array(n), [n], 'f32');
      const want = new Float64Array(n);
      let samples = 0;
      for (const [k, tokens] of [[1, 17], [2, 50]]) {
        const x = randn(tokens * n, seed + tokens);
        accumulateColumnNorms(want, samples, k, x, tokens, n);
        const xt = Tensor.fromData(hw, x, [tokens, n], 'f32', { maxChunkBytes: 16 * n * 4 });
        columnSquareNormsAccumulate(hw, s, n, xt, samples / (samples + k), 1 / (samples + k));
        samples += k;
      }
      const got = await s.readF32();
      // A sum of 50 squares in f32 is within 50·eps of the exact value.
      for (let j = 0; j < n; j++) expect(Math.abs(got[j] - want[j])).toBeLessThanOrEqual(64 * 2 ** -24 * want[j]);
    });
  });
});

describe('Hessian preparation', () => {
  it('dead columns, padding identity and dampening match the reference', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const n = 90;
    const np = paddedSize(n);
    const x = randn(200 * n, seed);
    for (const d of [3, 41, 89]) for (let t = 0; t < 200; t++) x[t * n + d] = 0;
    const want = new Float64Array(n * n);
    accumulateHessianSum(want, x, 200, n);
    await inErrorScope(hw, async () => {
      const h = createHessian(hw, n, 64 * np * 4);
      const xt = Tensor.fromData(hw, x, [200, n], 'f32');
      hessianAccumulate(hw, h, n, xt, 1, 2);
      const d = createDiagonal(hw, np);
      recordDiagonal(hw, h, n, d, true);
      dampen(hw, h, n, d, 0.01);
      const ref = dampenHessian(want, n, 0.01);
      const got = await h.readF32();
      const dead = await d.dead.readU32();
      const damp = (await d.stats.readF32())[0];
      expect(Math.abs(damp - ref.damp)).toBeLessThanOrEqual(1e-5 * ref.damp);
      for (let i = 0; i < np; i++) {
        expect(dead[i]).toBe(i < n && ref.dead[i] ? 1 : 0);
        if (i >= n) expect(got[i * np + i]).toBe(1);
        else expect(Math.abs(got[i * np + i] - want[i * n + i])).toBeLessThanOrEqual(1e-5 * want[i * n + i]);
      }
    });
  });

  it('activation order is a stable descending argsort of diag(H); the permuted upper triangle is gathered across chunks', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const n = 150;
    const np = paddedSize(n);
    // A symmetric matrix with a few tied diagonal values.
    const m = randn(n * n, seed);
    const sym = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) sym[i * n + j] = Math.fround(i <= j ? m[i * n + j] : m[j * n + i]);
    for (const i of [5, 77, 149]) sym[i * n + i] = sym[10 * n + 10];
    await inErrorScope(hw, async () => {
      const chunk = 64 * np * 4;
      const upper = new Float32Array(np * np);
      for (let i = 0; i < n; i++) for (let j = i; j < n; j++) upper[i * np + j] = sym[i * n + j];
      const h = squareMatrix(hw, np, chunk);
      h.write(upper);
      const d = createDiagonal(hw, np);
      recordDiagonal(hw, h, n, d, false);
      const perm = activationOrder(hw, n, d);
      const want = refOrder(sym, n);
      const got = await perm.readU32();
      expect(Array.from(got.subarray(0, n))).toEqual(want);
      for (let i = n; i < np; i++) expect(got[i]).toBe(i);
      const dst = squareMatrix(hw, np, chunk);
      permuteHessian(hw, h, dst, perm);
      const hp = await dst.readF32();
      for (let i = 0; i < n; i++) for (let j = i; j < n; j++) expect(hp[i * np + j]).toBe(sym[want[i] * n + want[j]]);
    });
  });
});
