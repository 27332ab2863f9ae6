import { describe, it } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { randn, uniform, freshSeed } from '../helpers/random.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { rmsNorm, addRmsNorm } from '../../src/models/kernels/rmsnorm.js';
import { rmsNorm as refRmsNorm } from '../../src/models/reference/llama.js';
import { expectClose, expectNoRaces, poisoned } from './helpers.js';

const hardware = useHardware();

// f32 RMSNorm: the sum of squares is accumulated serially per thread then by a
// tree, so its relative error is a few hundred ulps at most for n ≤ 4096
// (n/TPR serial terms + log2(TPR) tree levels); y adds 3 roundings and the
// 2-ulp inverseSqrt. rtol 2e-6 ≈ 34 ulp of f32 covers it with margin.
const TOL = { atol: 1e-7, rtol: 2e-6 };

describe('rmsNorm', () => {
  // Row lengths: a head (8, 128), a non-power-of-two vec4 count (12 → 3 vec4s),
  // stories260K hidden (64), its MLP width (172), a 4k hidden.
  for (const [rows, n] of [[7, 8], [33, 12], [5, 64], [3, 172], [130, 128], [2, 4096]] as const) {
    it(`${rows} rows × ${n}`, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const x = randn(rows * n, seed, 3);
      const w = uniform(n, seed + 1, 0.5, 1.5);
      await inErrorScope(hw, async () => {
        const xt = Tensor.fromData(hw, x, [rows, n], 'f32');
        const wt = Tensor.fromData(hw, w, [n], 'f32');
        const y = rmsNorm(hw, xt, wt, 1e-5, poisoned(hw, [rows, n]));
        const want = refRmsNorm(Float64Array.from(x), rows, n, Float64Array.from(w), 1e-5);
        expectClose(await y.readF32(), want, TOL, `seed ${seed}`);
      });
    });
  }

  it('addRmsNorm writes the residual sum and its norm, leaving the input unchanged', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const rows = 19;
    const n = 172;
    const h = randn(rows * n, seed, 2);
    const d = randn(rows * n, seed + 1, 2);
    const w = uniform(n, seed + 2, 0.5, 1.5);
    await inErrorScope(hw, async () => {
      const ht = Tensor.fromData(hw, h, [rows, n], 'f32');
      const dt = Tensor.fromData(hw, d, [rows, n], 'f32');
      const wt = Tensor.fromData(hw, w, [n], 'f32');
      const out = addRmsNorm(hw, ht, dt, wt, 1e-6, { sum: poisoned(hw, [rows, n]), normed: poisoned(hw, [rows, n]) });
      const sum = Float64Array.from(h, (v, i) => Math.fround(v + d[i]));
      expectClose(await out.sum.readF32(), sum, { atol: 0, rtol: 0 }, `seed ${seed}: residual`);
      expectClose(await ht.readF32(), h, { atol: 0, rtol: 0 }, `seed ${seed}: input unchanged`);
      expectClose(await out.normed.readF32(), refRmsNorm(sum, rows, n, Float64Array.from(w), 1e-6), TOL, `seed ${seed}: normed`);
    });
  });

  it('has no workgroup-memory races', async () => {
    const hw = await hardware();
    const rows = 5;
    const n4 = 3;
    const constants = { WG: 16, TPR: 4 };
    const x = randn(rows * n4 * 4, freshSeed());
    for (const residual of [false, true]) {
      const buffers: Record<string, Float32Array> = residual
        ? { h: x.slice(), delta: x.slice(), sum: new Float32Array(rows * n4 * 4), weight: new Float32Array(n4 * 4).fill(1), y: new Float32Array(rows * n4 * 4) }
        : { x: x.slice(), weight: new Float32Array(n4 * 4).fill(1), y: new Float32Array(rows * n4 * 4) };
      expectNoRaces(hw, { shader: 'rmsnorm', entryPoint: 'rmsNorm', flags: { RESIDUAL: residual }, constants }, { rows, n4, eps: 1e-5, invN: 1 / (n4 * 4) }, buffers, [2]);
    }
  });
});
