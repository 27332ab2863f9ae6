/**
 * Element types a {@link Tensor} can hold. Sub-32-bit types are stored packed
 * in little-endian u32 words (WGSL has no 8- or 16-bit storage without
 * extensions), so their buffers are padded to a multiple of 4 bytes.
 */
export type DType = 'f32' | 'f16' | 'bf16' | 'i32' | 'u32' | 'i8' | 'u8' | 'f8_e4m3';

const BYTES: Record<DType, number> = {
  f32: 4, f16: 2, bf16: 2, i32: 4, u32: 4, i8: 1, u8: 1, f8_e4m3: 1,
};

/** Bytes one element of `dtype` occupies in a packed buffer. */
export function dtypeBytes(dtype: DType): number {
  return BYTES[dtype];
}

/** Bytes a tensor of `numel` elements needs, rounded up to whole u32 words. */
export function packedByteLength(dtype: DType, numel: number): number {
  return Math.ceil((numel * BYTES[dtype]) / 4) * 4;
}

/** Number of elements of a shape (1 for a scalar). */
export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
