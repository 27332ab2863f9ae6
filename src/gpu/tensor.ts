import type { Hardware } from './hardware.js';
import { type DType, dtypeBytes, numelOf } from './dtype.js';

/** One GPU buffer holding whole rows `[rowStart, rowStart + rows)` of a tensor. */
export interface TensorChunk {
  readonly buffer: GPUBuffer;
  readonly rowStart: number;
  readonly rows: number;
  /** Bytes of tensor data in this chunk (the buffer may be larger: pool size class). */
  readonly byteLength: number;
}

export interface TensorOptions {
  /** Largest chunk in bytes; defaults to the device's maxStorageBufferBindingSize. */
  maxChunkBytes?: number;
  label?: string;
}

/**
 * A tensor on the GPU: shape, dtype and one or more buffers. A tensor larger
 * than one storage binding (128 MiB on lavapipe; an embedding can be 2 GB) is
 * split along its first dimension into chunks of whole rows, each its own
 * buffer, so every row-wise kernel can run chunk by chunk with a row offset.
 */
export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly chunks: readonly TensorChunk[];
  private disposed = false;

  private constructor(private readonly hw: Hardware, shape: readonly number[], dtype: DType, chunks: TensorChunk[]) {
    this.shape = [...shape];
    this.dtype = dtype;
    this.chunks = chunks;
  }

  /** Allocates an uninitialised tensor (contents are whatever the pool held). */
  static empty(hw: Hardware, shape: readonly number[], dtype: DType, options: TensorOptions = {}): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`invalid tensor shape [${shape.join(', ')}]`);
    }
    const rows = shape.length === 0 ? 1 : shape[0];
    const rowElems = shape.length <= 1 ? 1 : numelOf(shape.slice(1));
    const rowBytes = rowElems * dtypeBytes(dtype);
    const maxChunk = Math.min(options.maxChunkBytes ?? hw.caps.maxStorageBufferBindingSize, hw.caps.maxStorageBufferBindingSize, hw.caps.maxBufferSize);
    // Chunk boundaries must fall on u32 words for packed sub-word dtypes.
    const wordRows = rowBytes % 4 === 0 ? 1 : 4 / gcd(rowBytes % 4, 4);
    let rowsPerChunk = Math.floor(maxChunk / Math.max(rowBytes, 1));
    // Multiples of 4 rows keep chunk starts aligned for vec4 kernels (and cover
    // the 1, 2 or 4 rows a u32 word of a packed dtype may need).
    rowsPerChunk -= rowsPerChunk >= 4 ? rowsPerChunk % 4 : rowsPerChunk % wordRows;
    if (rowsPerChunk < 1) throw new Error(`one row of tensor [${shape.join(', ')}] ${dtype} (${rowBytes} bytes) exceeds the binding limit of ${maxChunk} bytes`);
    const chunks: TensorChunk[] = [];
    for (let r = 0; r < rows || (rows === 0 && chunks.length === 0); r += rowsPerChunk) {
      const n = Math.min(rowsPerChunk, rows - r);
      const bytes = Math.ceil((n * rowBytes) / 4) * 4;
      chunks.push({ buffer: hw.pool.acquire(Math.max(bytes, 4), undefined, options.label), rowStart: r, rows: n, byteLength: bytes });
      if (rows === 0) break;
    }
    return new Tensor(hw, shape, dtype, chunks);
  }

  /** Uploads `data` (its bytes, in the tensor's dtype) into a new tensor. */
  static fromData(hw: Hardware, data: ArrayBufferView, shape: readonly number[], dtype: DType, options: TensorOptions = {}): Tensor {
    const t = Tensor.empty(hw, shape, dtype, options);
    t.write(data);
    return t;
  }

  get numel(): number {
    return numelOf(this.shape);
  }

  /** Bytes of data (sub-word dtypes packed, unpadded). */
  get byteLength(): number {
    return this.numel * dtypeBytes(this.dtype);
  }

  /** Elements per row (product of all but the first dimension). */
  get rowElems(): number {
    return this.shape.length <= 1 ? 1 : numelOf(this.shape.slice(1));
  }

  get isChunked(): boolean {
    return this.chunks.length > 1;
  }

  /** The single buffer of an unchunked tensor. */
  get buffer(): GPUBuffer {
    this.assertLive();
    if (this.chunks.length !== 1) throw new Error(`tensor [${this.shape.join(', ')}] is split into ${this.chunks.length} chunks; bind its chunks one by one`);
    return this.chunks[0].buffer;
  }

  /** Writes host bytes into the tensor, chunk by chunk, in program order with recorded work. */
  write(data: ArrayBufferView): void {
    this.assertLive();
    if (data.byteLength !== this.byteLength) {
      throw new Error(`write of ${data.byteLength} bytes into tensor [${this.shape.join(', ')}] ${this.dtype} of ${this.byteLength} bytes`);
    }
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const rowBytes = this.rowElems * dtypeBytes(this.dtype);
    for (const c of this.chunks) {
      const start = c.rowStart * rowBytes;
      const len = c.rows * rowBytes;
      let part = bytes.subarray(start, start + len);
      if (len % 4 !== 0) {
        // writeBuffer needs a multiple of 4 bytes: pad the tail word.
        const padded = new Uint8Array(Math.ceil(len / 4) * 4);
        padded.set(part);
        part = padded;
      }
      this.hw.batcher.write(c.buffer, 0, part);
    }
  }

  /** Reads the tensor back as raw little-endian bytes of its dtype. */
  async readBytes(): Promise<Uint8Array> {
    this.assertLive();
    const rowBytes = this.rowElems * dtypeBytes(this.dtype);
    if (this.chunks.length === 1 && this.byteLength > 0) {
      // The readback is already a fresh buffer of our own: hand it over
      // instead of copying it into another (fresh host memory is slow to touch).
      const got = await this.hw.batcher.read(this.chunks[0].buffer, 0, Math.ceil(this.byteLength / 4) * 4);
      return new Uint8Array(got, 0, this.byteLength);
    }
    const out = new Uint8Array(this.byteLength);
    for (const c of this.chunks) {
      const len = c.rows * rowBytes;
      if (len === 0) continue;
      const got = await this.hw.batcher.read(c.buffer, 0, Math.ceil(len / 4) * 4);
      out.set(new Uint8Array(got, 0, len), c.rowStart * rowBytes);
    }
    return out;
  }

  /** Reads an f32 tensor back. */
  async readF32(): Promise<Float32Array> {
    if (this.dtype !== 'f32') throw new Error(`readF32 on a ${this.dtype} tensor`);
    const b = await this.readBytes();
    return new Float32Array(b.buffer, b.byteOffset, this.numel);
  }

  /** Reads a u32 or i32 tensor back as 32-bit words. */
  async readU32(): Promise<Uint32Array> {
    const b = await this.readBytes();
    return new Uint32Array(b.buffer, b.byteOffset, Math.floor(b.byteLength / 4));
  }

  /** Returns the buffers to the pool once pending work that may use them is submitted. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const c of this.chunks) this.hw.pool.releaseAfterSubmit(c.buffer);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  private assertLive(): void {
    if (this.disposed) throw new Error(`tensor [${this.shape.join(', ')}] ${this.dtype} used after dispose()`);
  }
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
