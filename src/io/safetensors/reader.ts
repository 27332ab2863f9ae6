import { CheckpointError } from '../errors.js';
import { compareCodePoints } from '../json.js';
import type { ByteSource } from '../source.js';
import { type DTypeArrays, type SafetensorsDType, typedView } from './dtype.js';
import { bytesToF32 } from './convert.js';
import { type SafetensorsHeader, type TensorInfo, parseHeaderLength, parseSafetensorsHeader } from './header.js';

/** A tensor read into memory with its dtype's typed array (see {@link typedView}). */
export interface TypedTensor<D extends SafetensorsDType = SafetensorsDType> {
  readonly name: string;
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: DTypeArrays[D];
}

/**
 * Read access to the tensors of one safetensors file or of a sharded
 * checkpoint. Reads are lazy and per tensor; nothing is cached.
 */
export interface TensorStore {
  /** File or folder name used in messages. */
  readonly name: string;
  /** Every tensor, sorted by name. */
  readonly tensors: readonly TensorInfo[];
  /** `__metadata__` of the (first) file, `{}` when absent. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Non-fatal inconsistencies found while opening (e.g. a shard tensor missing from the index). */
  readonly problems: readonly string[];
  has(name: string): boolean;
  /** The tensor's header entry; an unknown name is a CheckpointError. */
  info(name: string): TensorInfo;
  /** The tensor's raw little-endian bytes (a fresh buffer). */
  readTensor(name: string): Promise<Uint8Array>;
  /** The tensor's raw bytes into `dst` (exactly its byte length), without an intermediate buffer where the source allows. */
  readTensorInto(name: string, dst: Uint8Array): Promise<void>;
  /** `byteLength` bytes of the tensor starting `byteStart` bytes into it (row ranges of big tensors). */
  readRange(name: string, byteStart: number, byteLength: number): Promise<Uint8Array>;
  /** The tensor as its dtype's typed array. */
  readTyped(name: string): Promise<TypedTensor>;
  /** The tensor converted to f32 on the CPU (exact for F16/BF16/F8). */
  readF32(name: string): Promise<Float32Array>;
  /** The tensor's bytes in chunks of at most `chunkBytes` (copying big tensors without holding them whole). */
  streamTensor(name: string, chunkBytes?: number): AsyncGenerator<Uint8Array>;
  /** Closes the underlying files. */
  close(): Promise<void>;
}

/** Default chunk for {@link TensorStore.streamTensor}: 64 MiB. */
export const STREAM_CHUNK_BYTES = 64 * 1024 * 1024;

/** A {@link TensorStore} over one or more opened safetensors files. */
export class SafetensorsStore implements TensorStore {
  readonly tensors: readonly TensorInfo[];
  private readonly byName = new Map<string, { info: TensorInfo; source: ByteSource }>();

  constructor(
    readonly name: string,
    entries: Iterable<{ info: TensorInfo; source: ByteSource }>,
    private readonly sources: readonly ByteSource[],
    readonly metadata: Readonly<Record<string, string>> = {},
    readonly problems: readonly string[] = [],
  ) {
    for (const e of entries) this.byName.set(e.info.name, e);
    this.tensors = [...this.byName.values()].map((e) => e.info).sort((a, b) => compareCodePoints(a.name, b.name));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): TensorInfo {
    return this.entry(name).info;
  }

  async readTensor(name: string): Promise<Uint8Array> {
    const { info, source } = this.entry(name);
    return source.read(info.byteOffset, info.byteLength);
  }

  async readTensorInto(name: string, dst: Uint8Array): Promise<void> {
    const { info, source } = this.entry(name);
    if (dst.byteLength !== info.byteLength) throw new CheckpointError(info.file, `read of ${info.byteLength} bytes into a ${dst.byteLength}-byte buffer`, { tensor: name });
    if (source.readInto) await source.readInto(info.byteOffset, dst);
    else dst.set(await source.read(info.byteOffset, info.byteLength));
  }

  async readRange(name: string, byteStart: number, byteLength: number): Promise<Uint8Array> {
    const { info, source } = this.entry(name);
    if (!Number.isSafeInteger(byteStart) || !Number.isSafeInteger(byteLength) || byteStart < 0 || byteLength < 0 || byteStart + byteLength > info.byteLength) {
      throw new CheckpointError(info.file, `range of ${byteLength} bytes at ${byteStart} is outside the tensor's ${info.byteLength} bytes`, { tensor: name });
    }
    return source.read(info.byteOffset + byteStart, byteLength);
  }

  async readTyped(name: string): Promise<TypedTensor> {
    const info = this.info(name);
    const bytes = await this.readTensor(name);
    return { name, dtype: info.dtype, shape: info.shape, data: typedView(info.dtype, bytes) };
  }

  async readF32(name: string): Promise<Float32Array> {
    const info = this.info(name);
    return bytesToF32(info.dtype, await this.readTensor(name));
  }

  async *streamTensor(name: string, chunkBytes = STREAM_CHUNK_BYTES): AsyncGenerator<Uint8Array> {
    const { info, source } = this.entry(name);
    const step = Math.max(1, Math.floor(chunkBytes));
    for (let o = 0; o < info.byteLength; o += step) {
      yield await source.read(info.byteOffset + o, Math.min(step, info.byteLength - o));
    }
  }

  async close(): Promise<void> {
    for (const s of this.sources) await s.close?.();
  }

  private entry(name: string): { info: TensorInfo; source: ByteSource } {
    const e = this.byName.get(name);
    if (!e) throw new CheckpointError(this.name, 'no such tensor in the checkpoint', { tensor: name });
    return e;
  }
}

/** One opened safetensors file: its validated header plus the {@link TensorStore} reads. */
export class SafetensorsFile extends SafetensorsStore {
  constructor(readonly header: SafetensorsHeader, readonly source: ByteSource) {
    super(source.name, header.tensors.map((info) => ({ info, source })), [source], header.metadata ?? {});
  }
}

/**
 * Opens a safetensors file: reads the 8-byte length and the header only,
 * validates it (see {@link parseSafetensorsHeader}), and returns a store that
 * reads tensors on demand. Every malformed input is a {@link CheckpointError}
 * naming the file and, where it applies, the tensor.
 */
export async function openSafetensors(source: ByteSource): Promise<SafetensorsFile> {
  const size = source.size;
  if (size < 8) throw new CheckpointError(source.name, `file is ${size} bytes, too short for the 8-byte header length (truncated or not a safetensors file)`);
  const prefix = await source.read(0, 8);
  const n = parseHeaderLength(source.name, prefix, size);
  const json = await source.read(8, n);
  const header = parseSafetensorsHeader(source.name, json, size);
  return new SafetensorsFile(header, source);
}
