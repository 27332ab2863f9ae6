import type { Hardware } from '../../gpu/hardware.js';
import type { BufferSlice } from '../../gpu/kernel.js';

const WG = 256;

/** Signed codes in, packed u32 words out: where they live and how wide a field is. */
export interface PackArgs {
  /** i32 codes, row-major `[rows, cols]`. */
  codes: BufferSlice;
  /** Output words. */
  out: BufferSlice;
  rows: number;
  cols: number;
  /** Field width, 1..8. */
  bits: number;
  /** Added to each code before masking: 2^(bits−1) for pack-quantized, 0 for raw codes. */
  offset: number;
}

function check(a: PackArgs): void {
  if (!Number.isInteger(a.bits) || a.bits < 1 || a.bits > 8) throw new RangeError(`pack: bits must be 1..8, got ${a.bits}`);
  if (!Number.isInteger(a.offset) || a.offset < 0 || a.offset > 255) throw new RangeError(`pack: offset must be 0..255, got ${a.offset}`);
}

/**
 * `pack_to_int32(codes, bits)` along the last dimension:
 * `[rows, cols]` → `[rows, ceil(cols·bits/32)]` words.
 */
export function packRows(hw: Hardware, a: PackArgs): void {
  check(a);
  const wordsPerLine = Math.ceil((a.cols * a.bits) / 32);
  const count = a.rows * wordsPerLine;
  if (count === 0) return;
  hw.kernels.get({ shader: 'pack', entryPoint: 'packRows', constants: { WG } }).run(hw.batcher, {
    bindings: { codes: a.codes, out: a.out },
    uniforms: { rows: a.rows, cols: a.cols, bits: a.bits, offset: a.offset, wordsPerLine, count },
    workgroups: Math.ceil(count / WG),
  });
}

/**
 * `pack_to_int32(codes, bits, packed_dim=0)` down the first dimension
 * (zero points along the output dimension): `[rows, cols]` →
 * `[ceil(rows·bits/32), cols]` words.
 */
export function packColumns(hw: Hardware, a: PackArgs): void {
  check(a);
  const wordsPerLine = Math.ceil((a.rows * a.bits) / 32);
  const count = wordsPerLine * a.cols;
  if (count === 0) return;
  hw.kernels.get({ shader: 'pack', entryPoint: 'packColumns', constants: { WG } }).run(hw.batcher, {
    bindings: { codes: a.codes, out: a.out },
    uniforms: { rows: a.rows, cols: a.cols, bits: a.bits, offset: a.offset, wordsPerLine, count },
    workgroups: Math.ceil(count / WG),
  });
}
