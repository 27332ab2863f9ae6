/**
 * Integer packing of compressed-tensors' `pack-quantized` format
 * (compressed-tensors.md §3.1). The GPU pack kernels must reproduce these
 * functions bit for bit; they are the reference.
 *
 * Layout of {@link packInt32} (`pack_to_int32`, packed_dim = 1):
 * - input: signed codes `q` in `[-2^(b-1), 2^(b-1) - 1]`, row-major `[rows, cols]`;
 * - each code is offset to unsigned `u = q + 2^(b-1)` in `[0, 2^b)` (int4: +8, int8: +128);
 * - a row becomes `ceil(cols·b / 32)` little-endian 32-bit words; element `e`
 *   occupies bits `[p mod 32, p mod 32 + b)` of word `floor(p / 32)` where `p = e·b`,
 *   lowest bits first; for widths that do not divide 32 (3, 5, 6, 7 bits, CT ≥ 0.17)
 *   an element that crosses a word boundary continues in the low bits of the next word;
 * - padding bits past the last element are 0 (the unsigned domain), rows never share words;
 * - words are stored as int32 (the uint32 bit pattern reinterpreted).
 * For b = 4 and `cols % 8 == 0` the bytes of a row are the nibble stream
 * `u[2k] | u[2k+1] << 4`; for b = 8 byte `k` is `u[k]`.
 *
 * {@link packZeroPoints} applies the same algorithm down the output dimension
 * (packed_dim = 0): for zero points `[rows = O, cols = groups]` the result is
 * `[ceil(O·b / 32), groups]`, word `w` of column `g` holding rows `⌊32w/b⌋…`
 * (for b = 4: `Σ_k u(zp[8w+k, g]) << 4k`).
 */

/** Number of int32 words that hold `count` codes of `bits` bits. */
export function packedWords(count: number, bits: number): number {
  return Math.ceil((count * bits) / 32);
}

function checkBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < 1 || bits > 8) throw new RangeError(`pack: num_bits must be an integer from 1 to 8, got ${bits}`);
}

function checkShape(what: string, length: number, rows: number, cols: number): void {
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 0 || cols < 0 || rows * cols !== length) {
    throw new RangeError(`${what}: ${length} values do not form [${rows}, ${cols}]`);
  }
}

/**
 * Packs signed `bits`-bit codes `[rows, cols]` along the last dimension into
 * int32 words `[rows, ceil(cols·bits/32)]` (layout in the module comment).
 * A code outside `[-2^(bits-1), 2^(bits-1) - 1]` is a RangeError naming its index.
 */
export function packInt32(codes: Int8Array, rows: number, cols: number, bits: number): Int32Array {
  checkBits(bits);
  checkShape('packInt32', codes.length, rows, cols);
  const wordsPerRow = packedWords(cols, bits);
  const out = new Uint32Array(rows * wordsPerRow);
  const offset = 1 << (bits - 1);
  for (let r = 0; r < rows; r++) {
    const src = r * cols;
    const dst = r * wordsPerRow;
    for (let e = 0; e < cols; e++) {
      const q = codes[src + e];
      const u = q + offset;
      if (u < 0 || u >> bits !== 0) throw new RangeError(`packInt32: code ${q} at [${r}, ${e}] is outside the signed ${bits}-bit range [${-offset}, ${offset - 1}]`);
      const p = e * bits;
      const w = dst + (p >>> 5);
      const s = p & 31;
      out[w] |= u << s;
      if (s + bits > 32) out[w + 1] |= u >>> (32 - s);
    }
  }
  return new Int32Array(out.buffer);
}

/** Inverse of {@link packInt32}: int32 words `[rows, ceil(cols·bits/32)]` → signed codes `[rows, cols]`. */
export function unpackInt32(packed: Int32Array, rows: number, cols: number, bits: number): Int8Array {
  checkBits(bits);
  const wordsPerRow = packedWords(cols, bits);
  checkShape('unpackInt32', packed.length, rows, wordsPerRow);
  const words = new Uint32Array(packed.buffer, packed.byteOffset, packed.length);
  const out = new Int8Array(rows * cols);
  const mask = (1 << bits) - 1;
  const offset = 1 << (bits - 1);
  for (let r = 0; r < rows; r++) {
    const src = r * wordsPerRow;
    for (let e = 0; e < cols; e++) {
      const p = e * bits;
      const w = src + (p >>> 5);
      const s = p & 31;
      let u = words[w] >>> s;
      if (s + bits > 32) u |= words[w + 1] << (32 - s);
      out[r * cols + e] = (u & mask) - offset;
    }
  }
  return out;
}

/** Transposes a row-major `[rows, cols]` array. */
function transpose<T extends Int8Array | Int32Array>(a: T, rows: number, cols: number, make: (n: number) => T): T {
  const out = make(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/**
 * Packs signed zero points `[rows = O, cols = groups]` down the output
 * dimension into int32 `[ceil(O·bits/32), groups]`: compressed-tensors'
 * `pack_to_int32(zp, packed_dim=0)` (transpose, pack rows, transpose back).
 */
export function packZeroPoints(zeroPoints: Int8Array, rows: number, cols: number, bits: number): Int32Array {
  checkShape('packZeroPoints', zeroPoints.length, rows, cols);
  const t = transpose(zeroPoints, rows, cols, (n) => new Int8Array(n));
  const packedT = packInt32(t, cols, rows, bits); // [groups, words]
  return transpose(packedT, cols, packedWords(rows, bits), (n) => new Int32Array(n));
}

/** Inverse of {@link packZeroPoints}: `[ceil(O·bits/32), groups]` → signed `[O, groups]`. */
export function unpackZeroPoints(packed: Int32Array, rows: number, cols: number, bits: number): Int8Array {
  const words = packedWords(rows, bits);
  checkShape('unpackZeroPoints', packed.length, words, cols);
  const t = transpose(packed, words, cols, (n) => new Int32Array(n)); // [groups, words]
  return transpose(unpackInt32(t, cols, rows, bits), cols, rows, (n) => new Int8Array(n));
}
