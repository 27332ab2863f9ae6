import type { Hardware } from '../../gpu/hardware.js';
import { Tensor, type TensorChunk } from '../../gpu/tensor.js';

/** Tile and block size of the Hessian kernels: matrices are padded to a multiple of it. */
export const HESSIAN_TILE = 64;

/** n rounded up to {@link HESSIAN_TILE}. */
export function paddedSize(n: number): number {
  return Math.ceil(n / HESSIAN_TILE) * HESSIAN_TILE;
}

/**
 * A zeroed [np, np] f32 matrix whose row chunks (when it exceeds one storage
 * binding) hold whole multiples of {@link HESSIAN_TILE} rows, so that every
 * tile row and block row of the blocked kernels lives in one chunk.
 * `maxChunkBytes` lowers the chunk size (tests exercise chunking with it).
 */
export function squareMatrix(hw: Hardware, np: number, maxChunkBytes?: number): Tensor {
  if (np % HESSIAN_TILE !== 0) throw new Error(`squareMatrix: size ${np} is not a multiple of ${HESSIAN_TILE}`);
  const rowBytes = np * 4;
  const limit = Math.min(maxChunkBytes ?? Infinity, hw.caps.maxStorageBufferBindingSize, hw.caps.maxBufferSize);
  const blockRows = Math.floor(limit / (rowBytes * HESSIAN_TILE));
  if (blockRows < 1) throw new Error(`squareMatrix: ${HESSIAN_TILE} rows of a ${np}-wide matrix exceed the binding limit of ${limit} bytes`);
  const t = Tensor.empty(hw, [np, np], 'f32', { maxChunkBytes: blockRows * HESSIAN_TILE * rowBytes, label: 'wgc-hessian' });
  for (const c of t.chunks) hw.batcher.clear(c.buffer, 0, c.byteLength);
  return t;
}

/** The chunk of `t` holding physical row `row`. */
export function chunkOfRow(t: Tensor, row: number): TensorChunk {
  const c = t.chunks.find((ch) => row >= ch.rowStart && row < ch.rowStart + ch.rows);
  if (!c) throw new Error(`row ${row} is outside tensor [${t.shape.join(', ')}]`);
  return c;
}

/** Intersection of [a0, a1) and [b0, b1) as [start, count]; count 0 when empty. */
export function overlap(a0: number, a1: number, b0: number, b1: number): [number, number] {
  const s = Math.max(a0, b0);
  return [s, Math.max(0, Math.min(a1, b1) - s)];
}
