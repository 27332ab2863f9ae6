/**
 * Scalar float encodings used by checkpoints (compressed-tensors.md §1.6):
 * IEEE half, bfloat16, and the two OCP FP8 formats. Decoders are exact;
 * encoders round to nearest, ties to even, on the value given (pass f32
 * values, e.g. Float32Array elements, to reproduce torch's f32 → x casts).
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Rounds a non-negative double to the nearest integer, ties to even. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The raw bits of `x` rounded to f32. */
export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0];
}

/** The f32 whose bits are `bits`. */
export function f32FromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

// ---------------------------------------------------------------- bfloat16

/** bfloat16 bits → number (exact). */
export function bf16ToF32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0];
}

/**
 * number → bfloat16 bits: the f32 value's top 16 bits rounded to nearest-even,
 * as torch's `.to(torch.bfloat16)` does (NaN → 0x7FC0 with the sign kept).
 */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return ((b >>> 16) & 0x8000) | 0x7fc0;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

// ---------------------------------------------------------------- IEEE half

let halfTable: Float32Array | undefined;

/** IEEE half bits → number (exact). */
export function f16ToF32(bits: number): number {
  const s = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** number → IEEE half bits, round to nearest-even, overflow to ±Inf (torch semantics). */
export function f32ToF16(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (Number.isNaN(x)) return 0x7e00;
  if (a >= 65520) return sign | 0x7c00; // 65520 is the tie between 65504 and 2^16 (→ Inf)
  if (a < 2 ** -14) return sign | roundHalfEven(a * 2 ** 24); // subnormal; 0x400 is the smallest normal
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let mant = roundHalfEven((a / 2 ** e - 1) * 1024);
  if (mant === 1024) {
    e++;
    mant = 0;
  }
  return sign | ((e + 15) << 10) | mant;
}

// ---------------------------------------------------------------- FP8

/**
 * FP8 E4M3FN (`float8_e4m3fn`) bits → number: 1 sign, 4 exponent (bias 7),
 * 3 mantissa bits, no infinities, NaN = 0x7F/0xFF, largest finite 448.
 */
export function fp8E4M3ToF32(byte: number): number {
  const s = byte & 0x80 ? -1 : 1;
  const e = (byte >> 3) & 0xf;
  const m = byte & 7;
  if (e === 15 && m === 7) return NaN;
  if (e === 0) return s * m * 2 ** -9;
  return s * (1 + m / 8) * 2 ** (e - 7);
}

/**
 * number → FP8 E4M3FN bits with round-to-nearest-even and saturation to
 * ±448: compressed-tensors clamps to the FP8 range before torch's cast
 * (compressed-tensors.md §1.6, §4.3), so nothing maps to NaN except NaN
 * itself (→ 0x7F, sign kept). −0 encodes as 0x80. Subnormals go down to 2^-9.
 */
export function f32ToFp8E4M3(x: number): number {
  if (Number.isNaN(x)) return 0x7f;
  const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
  const a = Math.abs(x);
  if (a >= 448) return sign | 0x7e;
  if (a < 2 ** -6) return sign | roundHalfEven(a * 2 ** 9); // subnormal; 8 → 0x08, the smallest normal
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let mant = roundHalfEven((a / 2 ** e - 1) * 8);
  if (mant === 8) {
    e++;
    mant = 0;
  }
  // a < 448 rounds at most to 448 = 0x7E, never into the NaN code.
  return sign | ((e + 7) << 3) | mant;
}

/** FP8 E5M2 bits → number (IEEE-like: bias 15, 2 mantissa bits, Inf and NaN). */
export function fp8E5M2ToF32(byte: number): number {
  const s = byte & 0x80 ? -1 : 1;
  const e = (byte >> 2) & 0x1f;
  const m = byte & 3;
  if (e === 31) return m ? NaN : s * Infinity;
  if (e === 0) return s * m * 2 ** -16;
  return s * (1 + m / 4) * 2 ** (e - 15);
}

let e4m3Table: Float32Array | undefined;
let e5m2Table: Float32Array | undefined;

function table8(decode: (b: number) => number): Float32Array {
  const t = new Float32Array(256);
  for (let i = 0; i < 256; i++) t[i] = decode(i);
  return t;
}

/** Decodes an array of half bit patterns to f32. */
export function f16ArrayToF32(src: Uint16Array): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) halfTable[i] = f16ToF32(i);
  }
  const t = halfTable;
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]];
  return out;
}

/** Decodes an array of bfloat16 bit patterns to f32 (a shift per element). */
export function bf16ArrayToF32(src: Uint16Array): Float32Array {
  const out = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i] << 16;
  return new Float32Array(out.buffer);
}

/** Decodes FP8 E4M3FN bytes to f32. */
export function fp8E4M3ArrayToF32(src: Uint8Array): Float32Array {
  const t = (e4m3Table ??= table8(fp8E4M3ToF32));
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]];
  return out;
}

/** Decodes FP8 E5M2 bytes to f32. */
export function fp8E5M2ArrayToF32(src: Uint8Array): Float32Array {
  const t = (e5m2Table ??= table8(fp8E5M2ToF32));
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]];
  return out;
}

/** Encodes f32 values as bfloat16 bits (RNE). */
export function f32ArrayToBf16(src: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToBf16(src[i]);
  return out;
}

/** Encodes f32 values as half bits (RNE, overflow to Inf). */
export function f32ArrayToF16(src: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToF16(src[i]);
  return out;
}

/** Encodes f32 values as FP8 E4M3FN bytes (RNE, saturating at ±448). */
export function f32ArrayToFp8E4M3(src: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToFp8E4M3(src[i]);
  return out;
}
