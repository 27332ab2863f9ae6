/**
 * FP4 E2M1 (NVFP4 / MXFP4 elements; compressed-tensors.md §3.3, §4.3).
 * A code is `(sign << 3) | idx`, idx indexing the magnitudes
 * `[0, 0.5, 1, 1.5, 2, 3, 4, 6]`; the sign comes from the sign bit, so −0
 * is code 8. Packing puts two codes in a byte along the last dimension,
 * even element in the low nibble: `byte[k] = code[2k] | code[2k+1] << 4`.
 */

/** The eight E2M1 magnitudes, by 3-bit index. */
export const FP4_E2M1_VALUES: readonly number[] = [0, 0.5, 1, 1.5, 2, 3, 4, 6];

/**
 * Rounds `x` to the nearest E2M1 value (ties to even mantissa, saturating at
 * ±6) and returns its 4-bit code; the thresholds are compressed-tensors'
 * `cast_to_fp4`: |x| ≤ 0.25 → 0, < 0.75 → 0.5, ≤ 1.25 → 1, < 1.75 → 1.5,
 * ≤ 2.5 → 2, < 3.5 → 3, ≤ 5 → 4, else 6. NaN is a RangeError.
 */
export function encodeFp4(x: number): number {
  if (Number.isNaN(x)) throw new RangeError('encodeFp4: NaN has no E2M1 code');
  const sign = x < 0 || Object.is(x, -0) ? 8 : 0;
  const a = Math.abs(x);
  let idx: number;
  if (a <= 0.25) idx = 0;
  else if (a < 0.75) idx = 1;
  else if (a <= 1.25) idx = 2;
  else if (a < 1.75) idx = 3;
  else if (a <= 2.5) idx = 4;
  else if (a < 3.5) idx = 5;
  else if (a <= 5) idx = 6;
  else idx = 7;
  return sign | idx;
}

/** The value of a 4-bit E2M1 code (code 8 is −0). */
export function decodeFp4(code: number): number {
  const v = FP4_E2M1_VALUES[code & 7];
  return code & 8 ? -v : v;
}

/**
 * Packs E2M1 codes `[rows, cols]` (cols even) into bytes `[rows, cols/2]`,
 * even element in the low nibble. A code above 15 or an odd `cols` is a RangeError.
 */
export function packFp4(codes: Uint8Array, rows: number, cols: number): Uint8Array {
  if (cols % 2 !== 0) throw new RangeError(`packFp4: the packed dimension (${cols}) must be even`);
  if (rows * cols !== codes.length) throw new RangeError(`packFp4: ${codes.length} codes do not form [${rows}, ${cols}]`);
  const out = new Uint8Array(codes.length / 2);
  for (let i = 0; i < out.length; i++) {
    const lo = codes[2 * i];
    const hi = codes[2 * i + 1];
    if ((lo | hi) > 15) throw new RangeError(`packFp4: code ${Math.max(lo, hi)} near element ${2 * i} is not a 4-bit code`);
    out[i] = lo | (hi << 4);
  }
  return out;
}

/** Inverse of {@link packFp4}: bytes `[rows, cols/2]` → codes `[rows, cols]`. */
export function unpackFp4(packed: Uint8Array, rows: number, cols: number): Uint8Array {
  if (cols % 2 !== 0 || rows * (cols / 2) !== packed.length) throw new RangeError(`unpackFp4: ${packed.length} bytes do not hold [${rows}, ${cols}] codes`);
  const out = new Uint8Array(packed.length * 2);
  for (let i = 0; i < packed.length; i++) {
    out[2 * i] = packed[i] & 15;
    out[2 * i + 1] = packed[i] >> 4;
  }
  return out;
}
