/**
 * Exact scalar float formats used by compressed-tensors' quantization math:
 * rounding to the model dtype (f32, f16, bf16) as torch does after every
 * operation, FP8 E4M3 (`float8_e4m3fn`), FP4 E2M1 and E8M0 exponents.
 * Plain numbers in, plain numbers out; every function is exact (no float
 * tricks that depend on the host's rounding beyond IEEE double).
 */

/** The dtype a weight is observed in; compressed-tensors computes qparams in it. */
export type ComputeDtype = 'f32' | 'f16' | 'bf16';

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** Raw bits of the f32 nearest to `x`. */
export function f32Bits(x: number): number {
  f32buf[0] = x;
  return u32buf[0];
}

/** The f32 whose bits are `b`. */
export function f32FromBits(b: number): number {
  u32buf[0] = b >>> 0;
  return f32buf[0];
}

/** Round-half-to-even to an integer (torch.round, WGSL round). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round sends halves up; a half whose rounded value is odd goes down instead.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** f32 → bf16 with round-to-nearest-even (c10::BFloat16), as a number. */
export function roundBf16(x: number): number {
  const b = f32Bits(x);
  if ((b & 0x7fffffff) > 0x7f800000) return x; // NaN
  const r = (b + 0x7fff + ((b >>> 16) & 1)) >>> 0;
  return f32FromBits(r & 0xffff0000);
}

/** f32 → IEEE half bits, round-to-nearest-even, overflow to infinity (torch's `.to(float16)`). */
export function f32ToF16Bits(x: number): number {
  const b = f32Bits(x);
  const sign = (b >>> 16) & 0x8000;
  const a = b & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00;
  if (a >= 0x477ff000) return sign | 0x7c00; // ≥ 65520 rounds to infinity
  if (a >= 0x38800000) {
    const r = a + 0xfff + ((a >>> 13) & 1);
    return sign | (((r >>> 13) - (112 << 10)) & 0x7fff);
  }
  // Subnormal half: m = RNE(|x| · 2^24), exact in double.
  const m = roundHalfEven(Math.abs(f32FromBits(a)) * 2 ** 24);
  return sign | m;
}

/** IEEE half bits → number (exact). */
export function f16BitsToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** f32 → nearest half (as a number). */
export function roundF16(x: number): number {
  return f16BitsToNumber(f32ToF16Bits(x));
}

/** Rounds an f32 value to `dtype` the way torch stores an op's result. */
export function roundTo(x: number, dtype: ComputeDtype): number {
  switch (dtype) {
    case 'f32':
      return Math.fround(x);
    case 'bf16':
      return roundBf16(Math.fround(x));
    case 'f16':
      return roundF16(Math.fround(x));
  }
}

/** `torch.finfo(dtype).eps`: the zero-scale replacement for float scales (CT ≥ 0.13, §4.2). */
export function dtypeEps(dtype: ComputeDtype): number {
  return dtype === 'f32' ? 2 ** -23 : dtype === 'bf16' ? 2 ** -7 : 2 ** -10;
}

/** `torch.finfo(dtype).tiny`: the smallest normal number. */
export function dtypeTiny(dtype: ComputeDtype): number {
  return dtype === 'f16' ? 2 ** -14 : 2 ** -126;
}

/** Largest finite FP8 E4M3 (float8_e4m3fn) value. */
export const FP8_E4M3_MAX = 448;

/**
 * Value → FP8 E4M3 (float8_e4m3fn) byte, round-to-nearest-even, with FP8
 * subnormals (down to 2^-9). Inputs beyond ±448 are clamped first by every
 * caller (compressed-tensors clamps before casting); here they saturate.
 * The sign of zero is kept (−0 → 0x80), as torch's cast does.
 */
export function toE4M3Byte(x: number): number {
  if (Number.isNaN(x)) return 0x7f;
  const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
  const a = Math.abs(x);
  if (a >= FP8_E4M3_MAX) return sign | 0x7e;
  if (a < 2 ** -6) {
    // Subnormal grid of 2^-9: m in 0..8 (8 is the smallest normal, 0x08).
    return sign | roundHalfEven(a * 2 ** 9);
  }
  const e = Math.floor(Math.log2(a));
  // log2 can be off by one at exact powers of two; fix with exact comparisons.
  let exp = e;
  if (2 ** exp > a) exp--;
  if (2 ** (exp + 1) <= a) exp++;
  const m = roundHalfEven((a / 2 ** exp - 1) * 8);
  if (m === 8) return sign | ((exp + 1 + 7) << 3);
  return sign | ((exp + 7) << 3) | m;
}

/** FP8 E4M3 byte → value (0x7f / 0xff are NaN). */
export function fromE4M3Byte(b: number): number {
  const s = b & 0x80 ? -1 : 1;
  const e = (b >> 3) & 0xf;
  const m = b & 7;
  if (e === 15 && m === 7) return NaN;
  if (e === 0) return s * m * 2 ** -9;
  return s * (1 + m / 8) * 2 ** (e - 7);
}

/** Rounds to the FP8 E4M3 grid (clamped to ±448), keeping the sign of zero. */
export function roundE4M3(x: number): number {
  return fromE4M3Byte(toE4M3Byte(Math.max(-FP8_E4M3_MAX, Math.min(FP8_E4M3_MAX, x))));
}

/** E2M1 magnitudes, indexed by the low three bits of an FP4 code. */
export const FP4_VALUES: readonly number[] = [0, 0.5, 1, 1.5, 2, 3, 4, 6];

/**
 * compressed-tensors' `cast_to_fp4` (torch fallback, §4.3): threshold
 * rounding of |x| onto the E2M1 grid (ties to even), then `result * sign(x)`
 * where `sign(±0) = +0` — so a negative input that rounds to zero gives −0
 * and an exact ±0 gives +0.
 */
export function castToFp4(x: number): number {
  const a = Math.abs(x);
  let r: number;
  if (a <= 0.25) r = 0;
  else if (a < 0.75) r = 0.5;
  else if (a <= 1.25) r = 1;
  else if (a < 1.75) r = 1.5;
  else if (a <= 2.5) r = 2;
  else if (a < 3.5) r = 3;
  else if (a <= 5) r = 4;
  else r = 6;
  const sign = x > 0 ? 1 : x < 0 ? -1 : 0;
  return sign === 0 ? 0 : r * sign;
}

/** FP4 value → nibble (`pack_fp4_to_uint8`): magnitude index, sign bit 8 from signbit (−0 → 8). */
export function fp4Code(v: number): number {
  const idx = FP4_VALUES.indexOf(Math.abs(v));
  if (idx < 0) throw new RangeError(`fp4Code: ${v} is not an FP4 E2M1 value`);
  return idx | (v < 0 || Object.is(v, -0) ? 8 : 0);
}

/** FP4 nibble → value. */
export function fp4Value(code: number): number {
  const v = FP4_VALUES[code & 7];
  return code & 8 ? -v : v;
}

/**
 * E8M0 byte of a positive power-of-two scale (`compress_mx_scale`:
 * `127 + floor(log2(scale))`), exact for subnormal f32 scales too.
 */
export function e8m0Byte(scale: number): number {
  if (!(scale > 0)) throw new RangeError(`e8m0Byte: scale ${scale} is not positive`);
  let e = Math.floor(Math.log2(scale));
  if (2 ** e > scale) e--;
  if (2 ** (e + 1) <= scale) e++;
  return Math.max(0, Math.min(255, 127 + e));
}

/** E8M0 byte → scale `2^(b − 127)`. */
export function e8m0Value(b: number): number {
  return 2 ** (b - 127);
}

/** Order-preserving u32 key of f32 bits (negative floats reversed): min/max as unsigned integers. */
export function orderedKey(bits: number): number {
  return (bits & 0x80000000 ? ~bits : bits | 0x80000000) >>> 0;
}

/** Inverse of {@link orderedKey}. */
export function fromOrderedKey(key: number): number {
  return (key & 0x80000000 ? key & 0x7fffffff : ~key) >>> 0;
}
