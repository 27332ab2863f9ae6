import { describe, it, expect } from 'vitest';
import { freshSeed, rng } from '../helpers/random.js';
import {
  castToFp4, e8m0Byte, e8m0Value, f32Bits, f32FromBits, fp4Code, fp4Value, fromE4M3Byte, orderedKey, fromOrderedKey, roundBf16, roundF16,
  roundHalfEven, toE4M3Byte,
} from '../../src/quantization/numerics.js';
import { f32ToBf16, bf16ToF32, f32ToF16, f16ToF32, f32ToFp8E4M3 } from '../../src/io/numeric/float.js';
import { calculateQParams, globalScaleFromAbsMax, referenceContext } from '../../src/quantization/reference.js';
import { presetScheme } from '../../src/quantization/presets.js';
import { makeQuantizationArgs } from '../../src/quantization/args.js';

function randomF32(r: () => number): number {
  const kind = r();
  let bits: number;
  if (kind < 0.1) bits = Math.floor(r() * 0x800000);
  else bits = ((Math.floor(r() * 60) + 100) << 23) | Math.floor(r() * 0x800000);
  return f32FromBits((bits | (r() < 0.5 ? 0x80000000 : 0)) >>> 0);
}

describe('scalar formats (exact)', () => {
  it('round half to even', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 7.5, -7.5, 127.5, -127.5, 2.4999999].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, -2, 8, -8, 128, -128, 2]);
  });

  it('bf16 and f16 rounding agree with src/io’s encoders on random f32 values', () => {
    const seed = freshSeed();
    const r = rng(seed);
    for (let i = 0; i < 50000; i++) {
      const x = randomF32(r);
      expect(f32Bits(roundBf16(x)), `seed ${seed} x ${x}`).toBe(f32Bits(bf16ToF32(f32ToBf16(x))));
      expect(roundF16(x), `seed ${seed} x ${x}`).toBe(f16ToF32(f32ToF16(x)));
    }
  });

  it('FP8 E4M3: every code round-trips; random values agree with src/io; ties go to even', () => {
    for (let b = 0; b < 256; b++) {
      if ((b & 0x7f) === 0x7f) continue;
      expect(toE4M3Byte(fromE4M3Byte(b)), `code ${b}`).toBe(b);
    }
    const seed = freshSeed();
    const r = rng(seed);
    for (let i = 0; i < 50000; i++) {
      const x = Math.fround((r() * 2 - 1) * 448 * r() ** 6);
      expect(toE4M3Byte(x), `seed ${seed} x ${x}`).toBe(f32ToFp8E4M3(x));
    }
    expect(toE4M3Byte(1.0625)).toBe(0x38); // tie between 1 and 1.125 → even mantissa (1.0)
    expect(toE4M3Byte(1.1875)).toBe(0x3a); // tie between 1.125 and 1.25 → 1.25
    expect(toE4M3Byte(2 ** -10)).toBe(0); // half the smallest subnormal → 0
    expect(toE4M3Byte(-1e-6)).toBe(0x80);
    expect(fromE4M3Byte(0x7e)).toBe(448);
  });

  it('FP4: cast_to_fp4 thresholds and nibble codes', () => {
    const cases: [number, number][] = [[0.25, 0], [0.2500001, 0.5], [0.75, 1], [1.25, 1], [1.2500001, 1.5], [1.75, 2], [2.5, 2], [2.5000002, 3], [3.5, 4], [5, 4], [5.0000005, 6], [-3.5, -4]];
    for (const [x, v] of cases) expect(castToFp4(x), String(x)).toBe(v);
    for (let c = 0; c < 16; c++) expect(fp4Code(fp4Value(c))).toBe(c);
  });

  it('E8M0 exponents and ordered keys', () => {
    for (let b = 0; b < 255; b++) expect(e8m0Byte(e8m0Value(b))).toBe(b);
    const xs = [-Infinity, -3, -1e-40, -0, 0, 1e-40, 2, Infinity].map(f32Bits);
    const keys = xs.map(orderedKey);
    for (let i = 1; i < keys.length; i++) expect(keys[i]).toBeGreaterThan(keys[i - 1]);
    for (const b of xs) expect(fromOrderedKey(orderedKey(b))).toBe(b);
  });
});

describe('calculate_qparams reference (compressed-tensors.md §4.2)', () => {
  it('int4 symmetric divides by 7.5; int8 by 127.5; fp8 by 448; the eps rule replaces exact zeros', () => {
    const ctx4 = referenceContext(presetScheme('W4A16').weights!);
    expect(calculateQParams(-0.3, 0.7, ctx4, null).scale).toBe(Math.fround(0.7 / 7.5));
    expect(calculateQParams(0, 0, ctx4, null).scale).toBe(2 ** -23);
    expect(calculateQParams(0, 0, referenceContext(presetScheme('W4A16').weights!, 'bf16'), null).scale).toBe(2 ** -7);
    const ctx8 = referenceContext(presetScheme('W8A8').weights!);
    expect(calculateQParams(-2, 1, ctx8, null).scale).toBe(Math.fround(2 / 127.5));
    expect(calculateQParams(-2, 1, referenceContext(presetScheme('FP8_DYNAMIC').weights!), null).scale).toBe(Math.fround(2 / 448));
    // min and max always include 0
    expect(calculateQParams(0.5, 0.7, ctx4, null).scale).toBe(Math.fround(0.7 / 7.5));
  });

  it('asymmetric: zero point from min′, clamped, rounded half to even; all-zero group gives zp 0', () => {
    const ctx = referenceContext(makeQuantizationArgs({ numBits: 4, strategy: 'group', groupSize: 8, symmetric: false }));
    expect(calculateQParams(0, Math.fround(1.2), ctx, null)).toEqual({ scale: Math.fround(Math.fround(1.2) / 15), zeroPoint: -8 }); // 0.080000006 (§6.4)
    expect(calculateQParams(-1, 0, ctx, null).zeroPoint).toBe(7);
    expect(calculateQParams(0, 0, ctx, null)).toEqual({ scale: 2 ** -23, zeroPoint: 0 });
  });

  it('NVFP4: global scale = f32(1/amax)·2688, FP8 local scales, zero → 0.125', () => {
    const g = globalScaleFromAbsMax(0.5, 'f32');
    expect(g).toBe(Math.fround(Math.fround(1 / 0.5) * 2688));
    const ctx = referenceContext(presetScheme('NVFP4A16').weights!);
    const p = calculateQParams(-0.3, 0.2, ctx, g);
    expect(p.scale).toBe(fromE4M3Byte(toE4M3Byte(Math.fround(g * Math.fround(0.3 / 6)))));
    expect(calculateQParams(0, 1e-30, ctx, g).scale).toBe(0.125);
    expect(globalScaleFromAbsMax(0, 'f32')).toBe(1); // 2688 / tiny overflows: nan_to_num → 1
  });

  it('MX scales are powers of two (E8M0) from the group max rounded with round_to_power_2', () => {
    const ctx = referenceContext(presetScheme('MXFP4A16').weights!);
    // amax 6 = 1.5·2^2: a mantissa below 1.75 keeps 2^2; exponent 2 − FP4 offset 2 → scale 2^0
    expect(calculateQParams(-6, 1, ctx, null).scale).toBe(1);
    expect(calculateQParams(-7, 1, ctx, null).scale).toBe(2); // 7 = 1.75·4 rounds up to 8 → 2^(3−2)
    expect(calculateQParams(0, 0, ctx, null).scale).toBe(2 ** -127);
  });
});
