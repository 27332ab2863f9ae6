import type { Tensor } from '../../gpu/tensor.js';

/** Smallest power of two ≥ n (n ≥ 1). */
export function nextPow2(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

/** The single buffer of an activation tensor, with a clear error when it is chunked or not f32. */
export function f32Buffer(t: Tensor, what: string, kernel: string): GPUBuffer {
  if (t.dtype !== 'f32') throw new Error(`${kernel}: ${what} must be f32, got ${t.dtype}`);
  if (t.isChunked) {
    throw new Error(`${kernel}: ${what} [${t.shape.join(', ')}] exceeds one storage binding (${t.chunks.length} chunks); process fewer rows at a time`);
  }
  return t.buffer;
}
