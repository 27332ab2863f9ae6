import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';
import { Tensor } from '../../src/gpu/tensor.js';
import {
  columnRoots, createRadixSelection, magnitudePruneUnstructured, pruneNM, radixSelect, tensorKeys, wandaPrune,
} from '../../src/compression/kernels/prune.js';
import { magnitudeThresholdMask, rowwiseMask, wandaReference } from '../../src/compression/reference/wanda.js';
import { expectNoRaces } from '../gptq/helpers.js';

const hardware = useHardware();

/** Random f32 values with many exact duplicates (ties) and both signs. */
function tiedValues(n: number, seed: number, distinct = 50): Float32Array {
  const r = rng(seed);
  const pool = randn(distinct, seed + 1);
  return Float32Array.from({ length: n }, () => (r() < 0.5 ? pool[Math.floor(r() * distinct)] : randn(1, Math.floor(r() * 1e9))[0]));
}

function zerosOf(w: Float32Array): Uint8Array {
  return Uint8Array.from(w, (v) => (v === 0 ? 1 : 0));
}

function expectSameMask(got: Uint8Array, want: Uint8Array, what: string): void {
  let bad = 0;
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) bad++;
  expect(bad, `${what}: mask entries differing from the reference`).toBe(0);
}

describe('radixSelect', () => {
  it('finds the exact rank-k key over several ranges (ties, magnitudes)', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const a = tiedValues(3000, seed);
    const b = tiedValues(1700, seed + 5);
    await inErrorScope(hw, async () => {
      const ta = Tensor.fromData(hw, a, [3000], 'f32');
      const tb = Tensor.fromData(hw, b, [17, 100], 'f32', { maxChunkBytes: 4 * 100 * 4 });
      const sorted = [...a, ...b].map(Math.abs).sort((x, y) => x - y);
      const sel = createRadixSelection(hw);
      for (const k of [0, 1, 2349, 4699, 1000]) {
        radixSelect(hw, sel, tensorKeys([ta, tb]), k, 0x7fffffff);
        const got = new Float32Array((await sel.state.readU32()).buffer)[0];
        expect(got, `seed ${seed} rank ${k}`).toBe(sorted[k]);
      }
    });
  });

  it('histogram and pick kernels have no data races', async () => {
    const hw = await hardware();
    const small: [string, string][] = [['const WG: u32 = 256u;', 'const WG: u32 = 8u;']];
    const u = { count: 40, offset: 0, shift: 16, keyMask: 0xffffffff, k: 3, rows: 0, rowStart: 0, cols: 0, i1: 0, width: 0, words: 1, existWords: 1, pruneN: 0, pruneM: 1, kTotal: 0, eps: 0 };
    const keys = Uint32Array.from({ length: 40 }, (_, i) => (i * 2654435761) >>> 0);
    expectNoRaces(hw, { shader: 'prune', entryPoint: 'radixHistogram', flags: { PRESERVE: false, WANDA: false } }, u,
      { keys, hist: new Uint32Array(256), state: new Uint32Array([0, 3, 0, 0]) }, [2, 1, 1], small);
    expectNoRaces(hw, { shader: 'prune', entryPoint: 'radixPick', flags: { PRESERVE: false, WANDA: false } }, u,
      { hist: Uint32Array.from({ length: 256 }, (_, i) => i % 3), state: new Uint32Array([0, 3, 0, 0]) }, [1, 1, 1], small);
  });
});

describe('magnitude pruning', () => {
  it('per-layer threshold: |w| ≤ the int(sparsity·numel)-th smallest is zeroed, ties included (chunked weight)', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const rows = 37;
    const cols = 64;
    const w = tiedValues(rows * cols, seed);
    await inErrorScope(hw, async () => {
      for (const sparsity of [0.5, 0.3, 0.0001]) {
        const t = Tensor.fromData(hw, w, [rows, cols], 'f32', { maxChunkBytes: 8 * cols * 4 });
        magnitudePruneUnstructured(hw, [t], sparsity);
        const want = magnitudeThresholdMask([w], sparsity)[0];
        const got = await t.readF32();
        expectSameMask(zerosOf(got), Uint8Array.from(want, (m, i) => (m || w[i] === 0 ? 1 : 0)), `seed ${seed} sparsity ${sparsity}`);
        for (let i = 0; i < w.length; i++) if (got[i] !== 0) expect(got[i]).toBe(w[i]);
      }
    });
  });

  it('one global threshold over two layers', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const a = randn(50 * 32, seed, 0.1);
    const b = randn(20 * 48, seed + 3, 1);
    await inErrorScope(hw, async () => {
      const ta = Tensor.fromData(hw, a, [50, 32], 'f32');
      const tb = Tensor.fromData(hw, b, [20, 48], 'f32');
      magnitudePruneUnstructured(hw, [ta, tb], 0.6);
      const [ma, mb] = magnitudeThresholdMask([a, b], 0.6);
      expectSameMask(zerosOf(await ta.readF32()), ma, `seed ${seed} layer a`);
      expectSameMask(zerosOf(await tb.readF32()), mb, `seed ${seed} layer b`);
    });
  });

  it('N:M (2:4, 4:8) zeroes the N smallest |w| of every group; the structure holds on every group', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const rows = 30;
    const cols = 96;
    const w = tiedValues(rows * cols, seed, 6);
    await inErrorScope(hw, async () => {
      for (const [n, m] of [[2, 4], [4, 8], [1, 2]]) {
        const t = Tensor.fromData(hw, w, [rows, cols], 'f32');
        pruneNM(hw, t, n, m);
        const got = await t.readF32();
        const want = rowwiseMask(Float64Array.from(w, Math.abs), rows, cols, 0, n, m);
        expectSameMask(zerosOf(got), Uint8Array.from(want, (v, i) => (v || w[i] === 0 ? 1 : 0)), `seed ${seed} ${n}:${m}`);
        for (let g = 0; g < rows * cols; g += m) {
          let zeros = 0;
          for (let c = 0; c < m; c++) zeros += got[g + c] === 0 ? 1 : 0;
          expect(zeros).toBeGreaterThanOrEqual(n);
        }
      }
    });
  });
});

describe('Wanda', () => {
  it('sqrt(S) is correctly rounded', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const s = Float32Array.from(randn(4096, seed), (v, i) => Math.fround(Math.abs(v) * 10 ** ((i % 13) - 6)));
    s[0] = 0;
    s[1] = 1;
    s[2] = 4;
    await inErrorScope(hw, async () => {
      const got = await columnRoots(hw, Tensor.fromData(hw, s, [s.length], 'f32')).readF32();
      for (let i = 0; i < s.length; i++) if (got[i] !== Math.fround(Math.sqrt(s[i]))) throw new Error(`seed ${seed}: sqrt(${s[i]}) = ${got[i]}, want ${Math.fround(Math.sqrt(s[i]))}`);
    });
  });

  for (const { name, sparsity, n, m, distinct } of [
    { name: 'unstructured 50%, stable ties', sparsity: 0.5, n: 0, m: 0, distinct: 8 },
    { name: 'unstructured 30%, distinct values', sparsity: 0.3, n: 0, m: 0, distinct: 100000 },
    { name: '2:4', sparsity: 0.5, n: 2, m: 4, distinct: 8 },
  ]) {
    it(`${name}: masks identical to the reference`, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const rows = 20;
      const cols = 600;
      const w = tiedValues(rows * cols, seed, distinct);
      // S with ties too, so that |W|·sqrt(S) has equal metrics across columns.
      const s = Float32Array.from({ length: cols }, (_, j) => [0.25, 1, 4][j % 3]);
      await inErrorScope(hw, async () => {
        const t = Tensor.fromData(hw, w, [rows, cols], 'f32', { maxChunkBytes: 7 * cols * 4 });
        wandaPrune(hw, t, Tensor.fromData(hw, s, [cols], 'f32'), sparsity, n, m);
        const got = await t.readF32();
        const ref = wandaReference(w, rows, cols, s, sparsity, n, m);
        expectSameMask(zerosOf(got), Uint8Array.from(ref.mask, (v, i) => (v || w[i] === 0 ? 1 : 0)), `seed ${seed}`);
        if (n === 0) for (let r = 0; r < rows; r++) expect(ref.mask.subarray(r * cols, (r + 1) * cols).reduce((a, b) => a + b, 0)).toBe(Math.floor(cols * sparsity));
      });
    });
  }

  it('the per-row selection has no data races', async () => {
    const hw = await hardware();
    // The interpreter lacks workgroupUniformLoad; it follows a barrier here, so a plain load is equivalent.
    const small: [string | RegExp, string][] = [['const WG: u32 = 256u;', 'const WG: u32 = 8u;'], [/workgroupUniformLoad\(&(sel\[\d\])\)/g, '$1']];
    const cols = 20;
    const u = { count: 0, offset: 0, shift: 0, keyMask: 0xffffffff, k: 7, rows: 1, rowStart: 0, cols, i1: 0, width: 0, words: 1, existWords: 1, pruneN: 0, pruneM: 1, kTotal: 0, eps: 0 };
    // Ties force the ordered path (scan) as well as the radix passes.
    const w = Float32Array.from({ length: cols }, (_, j) => [0.5, -1, 0.5, 2][j % 4]);
    expectNoRaces(hw, { shader: 'prune', entryPoint: 'wandaRows', flags: { PRESERVE: false, WANDA: true } }, u,
      { w, colRoot: new Float32Array(cols).fill(1) }, [1, 1, 1], small);
  });
});
