import { describe, it, expect } from 'vitest';
import {
  f16ToF32, f32ToF16, bf16ToF32, f32ToBf16, fp8E4M3ToF32, f32ToFp8E4M3, fp8E5M2ToF32, f32Bits, f32FromBits,
  f16ArrayToF32, fp8E4M3ArrayToF32,
} from '../../src/io/numeric/float.js';
import { bytesToF32 } from '../../src/io/safetensors/convert.js';
import { rng, freshSeed } from '../helpers/random.js';

/** Nearest value in `grid` (sorted ascending, non-negative, with codes), ties to the even code. */
function nearestEven(a: number, grid: { v: number; code: number }[]): number {
  let lo = 0;
  let hi = grid.length - 1;
  if (a >= grid[hi].v) return grid[hi].code;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (grid[mid].v <= a) lo = mid;
    else hi = mid;
  }
  const dl = a - grid[lo].v;
  const dh = grid[hi].v - a;
  if (dl < dh) return grid[lo].code;
  if (dh < dl) return grid[hi].code;
  return grid[lo].code % 2 === 0 ? grid[lo].code : grid[hi].code;
}

/** Random f32 values spread over many binades, both signs, with exact ties mixed in. */
function samples(n: number, seed: number, maxExp: number, minExp: number): number[] {
  const r = rng(seed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const e = minExp + Math.floor(r() * (maxExp - minExp));
    let x = Math.fround((1 + r()) * 2 ** e) * (r() < 0.5 ? -1 : 1);
    if (i % 7 === 0) x = Math.fround(Math.round(x * 2 ** (4 - e)) / 2 ** (4 - e) + 2 ** (e - 4) / 2); // near-ties
    out.push(Math.fround(x));
  }
  return out;
}

describe('IEEE half', () => {
  it('decodes every bit pattern and re-encodes it unchanged', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = f16ToF32(h);
      if (Number.isNaN(v)) continue;
      expect(f32ToF16(v)).toBe(h);
    }
    expect(f16ArrayToF32(Uint16Array.of(0x3c00, 0x7c00, 0x0001))).toEqual(Float32Array.of(1, Infinity, 2 ** -24));
  });
  it('rounds to nearest even, overflows to Inf, on random f32 (independent grid reference)', () => {
    const grid: { v: number; code: number }[] = [];
    for (let h = 0; h < 0x7c00; h++) grid.push({ v: f16ToF32(h), code: h });
    grid.push({ v: 65536, code: 0x7c00 }); // Inf stands where 2^16 would be, so 65520 ties to it
    const seed = freshSeed();
    for (const x of samples(20000, seed, 17, -26)) {
      const want = nearestEven(Math.abs(x), grid) | (x < 0 ? 0x8000 : 0);
      if (f32ToF16(x) !== want) throw new Error(`seed ${seed}: f32ToF16(${x}) = 0x${f32ToF16(x).toString(16)}, want 0x${want.toString(16)}`);
    }
  });
});

describe('bfloat16', () => {
  it('rounds to nearest even and keeps NaN', () => {
    const seed = freshSeed();
    const r = rng(seed);
    for (let i = 0; i < 20000; i++) {
      const bits = Math.floor(r() * 2 ** 32) >>> 0;
      const x = f32FromBits(bits);
      if (!Number.isFinite(x)) continue;
      const lo = bits >>> 16;
      const rem = bits & 0xffff;
      const want = rem > 0x8000 || (rem === 0x8000 && lo % 2 === 1) ? lo + 1 : lo;
      expect(f32ToBf16(x), `seed ${seed} bits 0x${bits.toString(16)}`).toBe(want & 0xffff);
      expect(f32Bits(bf16ToF32(want & 0xffff))).toBe(((want & 0xffff) << 16) >>> 0);
    }
    expect(f32ToBf16(NaN)).toBe(0x7fc0);
  });
});

describe('FP8', () => {
  it('E4M3FN decodes the OCP table: 448 max, NaN 0x7F, subnormals 2^-9', () => {
    expect(fp8E4M3ToF32(0x7e)).toBe(448);
    expect(fp8E4M3ToF32(0xfe)).toBe(-448);
    expect(fp8E4M3ToF32(0x7f)).toBeNaN();
    expect(fp8E4M3ToF32(0x01)).toBe(2 ** -9);
    expect(fp8E4M3ToF32(0x08)).toBe(2 ** -6);
    expect(fp8E4M3ToF32(0x38)).toBe(1);
    expect(Object.is(fp8E4M3ToF32(0x80), -0)).toBe(true);
    expect([...fp8E4M3ArrayToF32(Uint8Array.of(0x38, 0xb8))]).toEqual([1, -1]);
  });
  it('E4M3FN encodes with round-to-nearest-even and saturation at ±448 (CT clamps before the cast)', () => {
    const grid: { v: number; code: number }[] = [];
    for (let b = 0; b <= 0x7e; b++) grid.push({ v: fp8E4M3ToF32(b), code: b });
    const seed = freshSeed();
    for (const x of samples(20000, seed, 10, -12)) {
      const want = nearestEven(Math.abs(x), grid) | (x < 0 ? 0x80 : 0);
      if (f32ToFp8E4M3(x) !== want) throw new Error(`seed ${seed}: f32ToFp8E4M3(${x}) = 0x${f32ToFp8E4M3(x).toString(16)}, want 0x${want.toString(16)}`);
    }
    expect(f32ToFp8E4M3(464)).toBe(0x7e);
    expect(f32ToFp8E4M3(1e30)).toBe(0x7e);
    expect(f32ToFp8E4M3(-Infinity)).toBe(0xfe);
    expect(f32ToFp8E4M3(2 ** -10)).toBe(0); // tie between 0 and 2^-9 goes to even (0)
    expect(f32ToFp8E4M3(3 * 2 ** -10)).toBe(2); // tie between 1 and 2 (×2^-9) goes to 2
    expect(f32ToFp8E4M3(-0)).toBe(0x80);
    for (let b = 0; b < 256; b++) if ((b & 0x7f) !== 0x7f) expect(f32ToFp8E4M3(fp8E4M3ToF32(b))).toBe(b);
  });
  it('E5M2 decodes with Inf and NaN', () => {
    expect(fp8E5M2ToF32(0x7c)).toBe(Infinity);
    expect(fp8E5M2ToF32(0x7d)).toBeNaN();
    expect(fp8E5M2ToF32(0x7b)).toBe(57344);
    expect(fp8E5M2ToF32(0x01)).toBe(2 ** -16);
    expect(fp8E5M2ToF32(0x3c)).toBe(1);
  });
});

describe('bytesToF32', () => {
  it('converts every dtype', () => {
    const b = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    expect([...bytesToF32('F64', b(Float64Array.of(1.5, -2)))]).toEqual([1.5, -2]);
    expect([...bytesToF32('I64', b(BigInt64Array.of(-3n, 7n)))]).toEqual([-3, 7]);
    expect([...bytesToF32('U64', b(BigUint64Array.of(9n)))]).toEqual([9]);
    expect([...bytesToF32('I32', b(Int32Array.of(-5)))]).toEqual([-5]);
    expect([...bytesToF32('U32', b(Uint32Array.of(4000000000)))]).toEqual([Math.fround(4000000000)]);
    expect([...bytesToF32('I16', b(Int16Array.of(-300)))]).toEqual([-300]);
    expect([...bytesToF32('U16', b(Uint16Array.of(60000)))]).toEqual([60000]);
    expect([...bytesToF32('I8', b(Int8Array.of(-128)))]).toEqual([-128]);
    expect([...bytesToF32('U8', Uint8Array.of(255))]).toEqual([255]);
    expect([...bytesToF32('BOOL', Uint8Array.of(0, 1, 2))]).toEqual([0, 1, 1]);
    expect([...bytesToF32('F16', b(Uint16Array.of(0xc000)))]).toEqual([-2]);
    expect([...bytesToF32('BF16', b(Uint16Array.of(0x3f80)))]).toEqual([1]);
    expect([...bytesToF32('F8_E4M3', Uint8Array.of(0x7e))]).toEqual([448]);
    expect([...bytesToF32('F8_E5M2', Uint8Array.of(0x3c))]).toEqual([1]);
    // unaligned input is copied, not misread
    const raw = new Uint8Array(9);
    raw.set(b(Float64Array.of(3.25)), 1);
    expect([...bytesToF32('F64', raw.subarray(1))]).toEqual([3.25]);
  });
});
