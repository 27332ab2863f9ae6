import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from './helpers/gpu.js';
import { rng, freshSeed } from './helpers/random.js';
import { Tensor } from '../src/gpu/tensor.js';
import { castToF32, fillWords } from '../src/gpu/kernels/elementwise.js';
import { f16BitsToNumber } from '../src/quantization/numerics.js';

const hardware = useHardware();


function randomHalves(n: number, seed: number): Uint16Array {
  const r = rng(seed);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    let h = Math.floor(r() * 0x10000);
    if (((h >> 10) & 0x1f) === 31) h &= 0xfbff; // keep finite: NaN payloads are not compared
    out[i] = h;
  }
  return out;
}

describe('castToF32', () => {
  for (const n of [1, 3, 255, 257, 65537]) {
    it(`f16 -> f32, ${n} elements`, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const h = randomHalves(n, seed);
      await inErrorScope(hw, async () => {
        const t = Tensor.fromData(hw, h, [n], 'f16');
        const out = castToF32(hw, t);
        const got = await out.readF32();
        for (let i = 0; i < n; i++) {
          if (got[i] !== f16BitsToNumber(h[i])) throw new Error(`seed ${seed}: element ${i} half 0x${h[i].toString(16)} -> ${got[i]}, want ${f16BitsToNumber(h[i])}`);
        }
        t.dispose();
        out.dispose();
      });
    });
  }

  it('bf16 -> f32 is exact, output poisoned first', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const n = 1001;
    const src = randomHalves(n, seed);
    await inErrorScope(hw, async () => {
      const t = Tensor.fromData(hw, src, [n], 'bf16');
      const out = castToF32(hw, t);
      const got = await out.readF32();
      const bits = new Uint32Array(got.buffer, got.byteOffset, n);
      for (let i = 0; i < n; i++) expect(bits[i]).toBe((src[i] << 16) >>> 0);
    });
  });

  it('splits a tensor larger than one binding into chunks and still casts every row', async () => {
    const hw = await hardware();
    const rows = 37;
    const cols = 66;
    const h = randomHalves(rows * cols, freshSeed());
    await inErrorScope(hw, async () => {
      // A 1 KiB binding limit forces 5 input and 10 output chunks with different boundaries.
      const t = Tensor.fromData(hw, h, [rows, cols], 'f16', { maxChunkBytes: 1024 });
      expect(t.chunks.length).toBeGreaterThan(1);
      const out = castToF32(hw, t);
      expect(out.chunks.length).toBe(1);
      const got = await out.readF32();
      for (let i = 0; i < h.length; i++) expect(got[i]).toBe(f16BitsToNumber(h[i]));
    });
  });

  it('fillWords poisons every word', async () => {
    const hw = await hardware();
    await inErrorScope(hw, async () => {
      const t = Tensor.empty(hw, [70000], 'f32');
      fillWords(hw, t, 0x7fc00000);
      const got = await t.readF32();
      expect(got.every((x) => Number.isNaN(x))).toBe(true);
    });
  });
});
