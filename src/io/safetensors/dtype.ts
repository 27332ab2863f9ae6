/**
 * safetensors element types (compressed-tensors.md §1.3). The list is in the
 * order of the Rust `Dtype` enum, which is ascending alignment: the canonical
 * writer lays tensors out by descending position in this list, then by name.
 */
export const SAFETENSORS_DTYPES = [
  'BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64',
] as const;

/** A safetensors dtype string as it appears in a header. */
export type SafetensorsDType = (typeof SAFETENSORS_DTYPES)[number];

const SIZE: Record<SafetensorsDType, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};

const RANK = new Map<string, number>(SAFETENSORS_DTYPES.map((d, i) => [d, i]));

/** True for a dtype string this reader understands. */
export function isSafetensorsDType(s: unknown): s is SafetensorsDType {
  return typeof s === 'string' && RANK.has(s);
}

/** Bytes per element. */
export function dtypeSize(dtype: SafetensorsDType): number {
  return SIZE[dtype];
}

/** Position in the alignment order (higher = larger alignment, written first). */
export function dtypeRank(dtype: SafetensorsDType): number {
  return RANK.get(dtype) as number;
}

/** Typed array each dtype is exposed as; 16-bit floats and FP8 are raw bit patterns. */
export interface DTypeArrays {
  F64: Float64Array; F32: Float32Array; F16: Uint16Array; BF16: Uint16Array;
  I64: BigInt64Array; U64: BigUint64Array; I32: Int32Array; U32: Uint32Array; I16: Int16Array; U16: Uint16Array;
  I8: Int8Array; U8: Uint8Array; BOOL: Uint8Array; F8_E4M3: Uint8Array; F8_E5M2: Uint8Array;
}

/** Any typed array {@link typedView} can return. */
export type TensorArray = DTypeArrays[SafetensorsDType];

/**
 * Views little-endian tensor bytes as the dtype's typed array (copying only
 * when `bytes` is not aligned to the element size). F16/BF16 come back as
 * Uint16Array bit patterns, F8 as Uint8Array bytes, BOOL as 0/1 bytes.
 */
export function typedView<D extends SafetensorsDType>(dtype: D, bytes: Uint8Array): DTypeArrays[D] {
  const size = SIZE[dtype];
  if (bytes.byteLength % size !== 0) throw new RangeError(`typedView: ${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  let b = bytes;
  if (b.byteOffset % size !== 0) b = b.slice();
  const n = b.byteLength / size;
  const buf = b.buffer;
  const off = b.byteOffset;
  const make: Record<SafetensorsDType, () => TensorArray> = {
    F64: () => new Float64Array(buf, off, n),
    F32: () => new Float32Array(buf, off, n),
    F16: () => new Uint16Array(buf, off, n),
    BF16: () => new Uint16Array(buf, off, n),
    I64: () => new BigInt64Array(buf, off, n),
    U64: () => new BigUint64Array(buf, off, n),
    I32: () => new Int32Array(buf, off, n),
    U32: () => new Uint32Array(buf, off, n),
    I16: () => new Int16Array(buf, off, n),
    U16: () => new Uint16Array(buf, off, n),
    I8: () => new Int8Array(buf, off, n),
    U8: () => new Uint8Array(buf, off, n),
    BOOL: () => new Uint8Array(buf, off, n),
    F8_E4M3: () => new Uint8Array(buf, off, n),
    F8_E5M2: () => new Uint8Array(buf, off, n),
  };
  return make[dtype]() as DTypeArrays[D];
}

/** The raw little-endian bytes of a typed array (a view, no copy). */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
