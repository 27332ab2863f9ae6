import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from './helpers/gpu.js';
import { randn, freshSeed } from './helpers/random.js';
import { Tensor } from '../src/gpu/tensor.js';
import { matmul } from '../src/gpu/kernels/matmul.js';
import { fillWords } from '../src/gpu/kernels/elementwise.js';

const hardware = useHardware();

/** float64 reference: C = A · op(B) + bias, and Σ|a·b| per element for the error bound. */
function reference(a: Float32Array, b: Float32Array, M: number, N: number, K: number, transposeB: boolean, bias?: Float32Array) {
  const c = new Float64Array(M * N);
  const mag = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = bias ? bias[j] : 0;
      let m = bias ? Math.abs(bias[j]) : 0;
      for (let k = 0; k < K; k++) {
        const prod = a[i * K + k] * (transposeB ? b[j * K + k] : b[k * N + j]);
        s += prod;
        m += Math.abs(prod);
      }
      c[i * N + j] = s;
      mag[i * N + j] = m;
    }
  }
  return { c, mag };
}

// f32 accumulation of K products: error ≤ ~K·eps·Σ|a·b| in the worst case;
// observed errors are far smaller, so bound at 4·sqrt(K)·eps·Σ|a·b| + tiny.
function check(got: Float32Array, ref: { c: Float64Array; mag: Float64Array }, K: number, seed: number) {
  const eps = 2 ** -23;
  for (let i = 0; i < ref.c.length; i++) {
    const tol = 4 * Math.sqrt(K) * eps * ref.mag[i] + 1e-30;
    if (!(Math.abs(got[i] - ref.c[i]) <= tol)) {
      throw new Error(`seed ${seed}: element ${i}: got ${got[i]}, want ${ref.c[i]} (tol ${tol})`);
    }
  }
}

const shapes: [number, number, number][] = [
  [1, 4, 4],
  [3, 8, 12],
  [33, 20, 36],
  [65, 132, 64],
  [257, 36, 172],
  [65537, 8, 4],
];

describe('matmul', () => {
  for (const variant of ['register', 'broadcast'] as const)
  for (const transposeB of [false, true]) {
    for (const [M, N, K] of shapes) {
      for (const withBias of [false, true]) {
        it(`${variant} ${transposeB ? 'A·Bᵀ' : 'A·B'} M=${M} N=${N} K=${K}${withBias ? ' +bias' : ''}`, async () => {
          const hw = await hardware();
          if (variant === 'broadcast' && !(hw.caps.subgroups && [4, 8].includes(hw.info.subgroupMinSize ?? 0) && hw.info.subgroupMinSize === hw.info.subgroupMaxSize)) return;
          const seed = freshSeed();
          const a = randn(M * K, seed);
          const b = randn(N * K, seed + 1);
          const bias = withBias ? randn(N, seed + 2) : undefined;
          await inErrorScope(hw, async () => {
            const ta = Tensor.fromData(hw, a, [M, K], 'f32');
            const tb = Tensor.fromData(hw, b, transposeB ? [N, K] : [K, N], 'f32');
            const tbias = bias ? Tensor.fromData(hw, bias, [N], 'f32') : undefined;
            const out = Tensor.empty(hw, [M, N], 'f32');
            fillWords(hw, out);
            matmul(hw, ta, tb, { transposeB, bias: tbias, out, variant });
            check(await out.readF32(), reference(a, b, M, N, K, transposeB, bias), K, seed);
            for (const t of [ta, tb, out, tbias]) t?.dispose();
          });
        });
      }
    }
  }

  it('a transposed B split into row chunks writes every column', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const [M, N, K] = [9, 100, 16];
    const a = randn(M * K, seed);
    const b = randn(N * K, seed + 1);
    await inErrorScope(hw, async () => {
      const ta = Tensor.fromData(hw, a, [M, K], 'f32');
      // 1 KiB chunks of 64-byte rows: 16 rows per chunk, 7 chunks.
      const tb = Tensor.fromData(hw, b, [N, K], 'f32', { maxChunkBytes: 1024 });
      expect(tb.chunks.length).toBe(7);
      const out = Tensor.empty(hw, [M, N], 'f32');
      fillWords(hw, out);
      matmul(hw, ta, tb, { transposeB: true, out });
      check(await out.readF32(), reference(a, b, M, N, K, true), K, seed);
    });
  });

  it('rejects mismatched shapes with a clear error', async () => {
    const hw = await hardware();
    const ta = Tensor.empty(hw, [4, 8], 'f32');
    const tb = Tensor.empty(hw, [12, 4], 'f32');
    expect(() => matmul(hw, ta, tb)).toThrow(/inner dimensions differ/);
    const tc = Tensor.empty(hw, [6, 4], 'f32');
    expect(() => matmul(hw, ta, tc, { transposeB: true })).toThrow(/inner dimensions differ/);
  });
});
