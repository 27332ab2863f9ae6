import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed, randn } from '../helpers/random.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { paddedSize, squareMatrix } from '../../src/compression/kernels/square.js';
import { choleskyInPlace, createCholeskyWorkspace, invertLower, inverseUpperFactor } from '../../src/compression/kernels/cholesky.js';
import { createDiagonal, dampen, recordDiagonal } from '../../src/compression/kernels/hessian.js';
import { choleskyLower, invertLower as refInvertLower, inverseHessianUpper } from '../../src/compression/reference/linalg.js';
import { expectNoRaces, padSquare, randomHessian, relError, topLeft } from './helpers.js';

const hardware = useHardware();

/** Uploads the upper triangle of H (n×n) into a padded matrix with 1 on the padding diagonal. */
function uploadUpper(hw: Parameters<typeof squareMatrix>[0], h: Float64Array, n: number, chunkRows?: number): Tensor {
  const np = paddedSize(n);
  const data = new Float32Array(np * np);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) data[i * np + j] = h[i * n + j];
  for (let i = n; i < np; i++) data[i * np + i] = 1;
  const t = squareMatrix(hw, np, chunkRows ? chunkRows * np * 4 : undefined);
  t.write(data);
  return t;
}

// f32 factorisation of a matrix with condition number κ ≲ 40 (randomHessian,
// ratio 4, column scales within 4×): backward-stable algorithms give relative
// errors of order n·κ·eps ≈ 150·40·6e-8 ≈ 4e-4 in the worst case; typical
// errors are 1e-6 to 1e-5. Tolerances: L 1e-4, L⁻¹ and U 5e-4.
describe('blocked Cholesky (plain lower factor, rev = 0)', () => {
  for (const { n, chunkRows } of [{ n: 150, chunkRows: undefined }, { n: 200, chunkRows: 64 }]) {
    it(`n=${n}${chunkRows ? ', 64-row chunks' : ''}: L and L⁻¹ against float64`, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const np = paddedSize(n);
      const { h } = randomHessian(n, seed);
      const full = new Float64Array(np * np);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) full[i * np + j] = h[i * n + j];
      for (let i = n; i < np; i++) full[i * np + i] = 1;
      await inErrorScope(hw, async () => {
        const a = squareMatrix(hw, np, chunkRows ? chunkRows * np * 4 : undefined);
        a.write(Float32Array.from(full));
        const ws = createCholeskyWorkspace(hw, np);
        choleskyInPlace(hw, a, ws, false);
        const x = squareMatrix(hw, np, chunkRows ? chunkRows * np * 4 : undefined);
        invertLower(hw, a, x, ws, false);
        const l = await a.readF32();
        const li = await x.readF32();
        expect((await ws.status.readU32())[0]).toBe(0);
        const refL = choleskyLower(Float64Array.from(full, Math.fround), np)!;
        const refLi = refInvertLower(refL, np);
        const lower = (i: number) => i % np <= Math.floor(i / np);
        const eL = relError(l, refL, lower);
        const eLi = relError(li, refLi, lower);
        expect(eL, `seed ${seed}: L`).toBeLessThan(1e-4);
        expect(eLi, `seed ${seed}: L⁻¹`).toBeLessThan(5e-4);
        // Above the diagonal the inverse is exactly zero.
        for (let i = 0; i < np; i++) for (let j = i + 1; j < np; j++) if (li[i * np + j] !== 0) throw new Error(`L⁻¹[${i},${j}] = ${li[i * np + j]}`);
      });
    });
  }
});

describe('inverseUpperFactor (upper Cholesky factor of H⁻¹)', () => {
  for (const { n, chunkRows } of [{ n: 100, chunkRows: undefined }, { n: 190, chunkRows: 64 }, { n: 40, chunkRows: undefined }]) {
    it(`n=${n}${chunkRows ? ', 64-row chunks' : ''}: dead columns, dampening, U vs torch's cholesky → cholesky_inverse → cholesky(upper)`, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const np = paddedSize(n);
      const { h } = randomHessian(n, seed);
      // One dead column (its row and column of H are 0).
      const deadCol = Math.floor(n / 3);
      for (let i = 0; i < n; i++) h[i * n + deadCol] = h[deadCol * n + i] = 0;
      const hf = Float64Array.from(h, Math.fround);
      await inErrorScope(hw, async () => {
        const a = uploadUpper(hw, hf, n, chunkRows);
        const d = createDiagonal(hw, np);
        recordDiagonal(hw, a, n, d, true);
        dampen(hw, a, n, d, 0.01);
        const ws = createCholeskyWorkspace(hw, np);
        const u = inverseUpperFactor(hw, a, ws, chunkRows ? chunkRows * np * 4 : undefined);
        const got = await u.readF32();
        const ref = inverseHessianUpper(hf, n, 0.01);
        expect(ref.ok).toBe(true);
        expect((await ws.status.readU32())[0]).toBe(0);
        expect((await d.dead.readU32())[deadCol]).toBe(1);
        const e = relError(topLeft(got, np, n), ref.u);
        expect(e, `seed ${seed}`).toBeLessThan(5e-4);
        // U is upper triangular with exact zeros below, and the padding block is the identity.
        for (let i = 0; i < np; i++) {
          for (let j = 0; j < np; j++) {
            const v = got[i * np + j];
            if (j < i && v !== 0) throw new Error(`U[${i},${j}] = ${v}`);
            if ((i >= n || j >= n) && v !== (i === j ? 1 : 0)) throw new Error(`padding U[${i},${j}] = ${v}`);
          }
        }
        console.log(`inverseUpperFactor n=${n}: max relative error of U ${e.toExponential(2)}`);
      });
    });
  }

  it('detects an indefinite matrix and falls back to the identity (RTN) without a host round trip', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const n = 130;
    const np = paddedSize(n);
    const { h } = randomHessian(n, seed);
    // A negative eigen-direction far larger than the dampening: H − 50·vvᵀ.
    const v = randn(n, seed + 7);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) h[i * n + j] -= 50 * v[i] * v[j];
    const hf = Float64Array.from(h, Math.fround);
    expect(inverseHessianUpper(hf, n, 0.01).ok).toBe(false);
    await inErrorScope(hw, async () => {
      const a = uploadUpper(hw, hf, n);
      const d = createDiagonal(hw, np);
      recordDiagonal(hw, a, n, d, true);
      dampen(hw, a, n, d, 0.01);
      const ws = createCholeskyWorkspace(hw, np);
      const u = inverseUpperFactor(hw, a, ws);
      const status = (await ws.status.readU32())[0];
      expect(status).toBeGreaterThan(0);
      const got = await u.readF32();
      for (let i = 0; i < np; i++) for (let j = 0; j < np; j++) expect(got[i * np + j]).toBe(i === j ? 1 : 0);
    });
  });

  it('the factorisation kernels have no data races (detectRaces, small sizes)', async () => {
    const hw = await hardware();
    const np = 64;
    const base = { np, rowStart: 0, rows: np, k: 0, rev: 1, lo: 0, count: 1, mode: 0 };
    // factorDiagonal with an 8×8 block and 16 invocations keeps the sequential interpreter fast.
    const spd = new Float32Array(np * np);
    const g = randn(64, 5);
    for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) spd[(np - 1 - i) * np + (np - 1 - j)] = (i === j ? 8 : 0) + 0.1 * g[i * 8 + j] * (i === j ? 0 : 1);
    const smallNB: [string, string][] = [['const NB: u32 = 64u;', 'const NB: u32 = 8u;']];
    expectNoRaces(hw, { shader: 'cholesky', entryPoint: 'factorDiagonal', constants: { WG: 16 } }, base,
      { a: spd, dinv: new Float32Array(64), status: new Uint32Array(4) }, [1, 1, 1], smallNB);
    // The tile updates at NB = 8 (2×2 invocations, slices of 8): the same code paths, small enough for the interpreter.
    const small: [string, string][] = [...smallNB, ['const KC: u32 = 16u;', 'const KC: u32 = 8u;']];
    const tiles = { ...base, np: 16, rows: 16, lo: 1, count: 1 };
    expectNoRaces(hw, { shader: 'cholesky', entryPoint: 'trailingUpdate' }, tiles, { a4: new Float32Array(16 * 16), panel: randn(16 * 8, 6) }, [1, 1, 1], small);
    expectNoRaces(hw, { shader: 'cholesky', entryPoint: 'inverseUpdate' }, tiles, { a: randn(16 * 16, 8), x4: new Float32Array(16 * 16), rowblk: randn(8 * 16, 9) }, [1, 1, 1], small);
  });
});
