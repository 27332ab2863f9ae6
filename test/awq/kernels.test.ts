/**
 * shaders/awq.wgsl against float64 sums on fresh random inputs (the squared
 * error and its fixed-order folding, the inf/NaN count), and the grid and
 * its candidate scales against llm-compressor's formulas and the float64
 * reference (src/modifiers/awq/reference.ts). Outputs poisoned, error
 * scopes, race detector on every workgroup-memory entry point.
 */
import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed, randn, rng, uniform } from '../helpers/random.js';
import { expectClose, expectNoRaces, poisoned } from '../models/helpers.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { SquaredErrorSum } from '../../src/modifiers/awq/kernels.js';
import { awqCandidateScales, awqGridPoints } from '../../src/modifiers/awq/grid.js';
import { referenceGridScales } from '../../src/modifiers/awq/reference.js';

const hardware = useHardware();

describe('awqGridPoints', () => {
  it('follows _get_grid_search_params for true, false and "both"', () => {
    const t = awqGridPoints(20, true);
    expect(t.length).toBe(20);
    expect(t[0]).toEqual({ ratio: 0, duo: false });
    expect(t.slice(1).every((p, k) => p.duo && p.ratio === k / 18)).toBe(true);
    const f = awqGridPoints(20, false);
    expect(f.map((p) => p.ratio)).toEqual(Array.from({ length: 20 }, (_, k) => k / 19));
    expect(f.every((p) => !p.duo)).toBe(true);
    const b = awqGridPoints(20, 'both');
    expect(b.length).toBe(20);
    expect(b.slice(0, 4)).toEqual([{ ratio: 0, duo: false }, { ratio: 0, duo: true }, { ratio: 1 / 9, duo: false }, { ratio: 1 / 9, duo: true }]);
    expect(awqGridPoints(1, true)).toEqual([{ ratio: 0, duo: false }]);
    expect(() => awqGridPoints(2, true)).toThrow('n_grid = 2 with duo_scaling true divides by n_grid − 2 = 0');
    expect(() => awqGridPoints(1, false)).toThrow('needs n_grid ≥ 2');
    expect(() => awqGridPoints(3, 'both')).toThrow('needs n_grid ≥ 4');
  });
});

describe('awqCandidateScales (host, float64, rounded once to f32)', () => {
  for (const [duo, n] of [[true, 20], [false, 7], ['both', 10]] as const) {
    it(`duo_scaling ${JSON.stringify(duo)}, n_grid ${n}: equal to the reference's scales rounded to f32, with dead and loud channels`, () => {
      const seed = freshSeed();
      const cols = 600;
      const tokens = 777;
      const wRows = 48;
      const r = rng(seed);
      const xSum = new Float32Array(cols);
      const wSum = new Float32Array(cols);
      for (let c = 0; c < cols; c++) {
        xSum[c] = c % 97 === 0 ? 0 : r() * tokens * (c % 41 === 0 ? 50 : 1);
        wSum[c] = 5 + r() * 30;
      }
      const grid = awqGridPoints(n, duo);
      const got = awqCandidateScales({ xSum, tokens, wSum, wRows }, grid);
      const xMean = Float64Array.from(xSum, (v) => v / tokens);
      const wMean = Float64Array.from(wSum, (v) => v / wRows);
      grid.forEach((p, g) => {
        const want = referenceGridScales(xMean, wMean, p).map(Math.fround);
        expect([...got.subarray(g * cols, (g + 1) * cols)], `seed ${seed} grid point ${g}`).toEqual([...want]);
      });
    });
  }

  it('all-zero activations: scales clamp to 1e-4 and normalise to 1', () => {
    expect([...awqCandidateScales({ xSum: new Float32Array(8), tokens: 10 }, awqGridPoints(2, false))]).toEqual(new Array(16).fill(1));
    expect(() => awqCandidateScales({ xSum: new Float32Array(8), tokens: 10 }, awqGridPoints(3, true))).toThrow('duo-scaling grid points need the weight means');
  });
});

describe('SquaredErrorSum', () => {
  it('Σ (a − b)² over several output pairs, folded into two loss slots', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const sizes = [4 * 3001, 8, 4 * 20000];
    const as = sizes.map((n, i) => randn(n, seed + i));
    const bs = sizes.map((n, i) => randn(n, seed + 10 + i, 1.5));
    let want0 = 0;
    let want1 = 0;
    as.forEach((a, i) => {
      for (let k = 0; k < a.length; k++) {
        want0 += (a[k] - bs[i][k]) ** 2;
        if (i === 1) want1 += (a[k] - bs[i][k]) ** 2;
      }
    });
    await inErrorScope(hw, async () => {
      const ta = as.map((a) => Tensor.fromData(hw, a, [a.length / 4, 4], 'f32'));
      const tb = bs.map((b) => Tensor.fromData(hw, b, [b.length / 4, 4], 'f32'));
      const out = poisoned(hw, [2]);
      const acc = new SquaredErrorSum(hw);
      for (let i = 0; i < sizes.length; i++) acc.add(ta[i], tb[i]);
      acc.foldInto(out.buffer, 0);
      acc.add(ta[1], tb[1]);
      acc.foldInto(out.buffer, 1);
      const got = await out.readF32();
      expectClose(got, [want0, want1], { atol: 0, rtol: 1e-5 }, `seed ${seed}`);
      acc.dispose();
      expect(() => acc.add(ta[0], tb[1])).toThrow('shapes or dtypes differ');
    });
  });

  it('counts inf and NaN elements', async () => {
    const hw = await hardware();
    const x = uniform(4 * 5000, freshSeed());
    const bad = [3, 17, 4095, 19999];
    x[bad[0]] = NaN;
    x[bad[1]] = Infinity;
    x[bad[2]] = -Infinity;
    x[bad[3]] = NaN;
    await inErrorScope(hw, async () => {
      const t = Tensor.fromData(hw, x, [5000, 4], 'f32');
      const out = poisoned(hw, [1]);
      const acc = new SquaredErrorSum(hw);
      acc.addNonFinite(t);
      acc.foldInto(out.buffer, 0);
      expect((await out.readF32())[0]).toBe(bad.length);
    });
  });
});

describe('no data races in the workgroup-memory kernels (wgsl_reflect detectRaces)', () => {
  it('sumSquaredDiff, countNonFinite, foldSum', async () => {
    const hw = await hardware();
    const n4 = 700;
    const diff = { count4: n4, perGroup4: 512, partBase: 0, nWork: 2 };
    expectNoRaces(hw, { shader: 'awq', entryPoint: 'sumSquaredDiff' }, diff, { ya: randn(4 * n4, 3), yb: randn(4 * n4, 4), sq: new Float32Array(2) }, [2, 1, 1]);
    expectNoRaces(hw, { shader: 'awq', entryPoint: 'countNonFinite' }, diff, { ya: randn(4 * n4, 5), sq: new Float32Array(2) }, [2, 1, 1]);
    expectNoRaces(hw, { shader: 'awq', entryPoint: 'foldSum' }, { n: 600, outIndex: 1, _p0: 0, _p1: 0 }, { terms: randn(600, 6), total: new Float32Array(2) }, [1, 1, 1]);
  });
});
