import { CheckpointError, describeError } from './errors.js';

/**
 * Random-access bytes: a file on disk, a browser `File`/`Blob`, or memory.
 * Checkpoint readers only ever ask for a header or one tensor's range, so a
 * 16 GB model is never loaded at once.
 */
export interface ByteSource {
  /** Path or label used in error messages. */
  readonly name: string;
  /** Total length in bytes. */
  readonly size: number;
  /**
   * Reads exactly `length` bytes at `offset` into a fresh buffer the caller
   * owns; throws {@link CheckpointError} if the range leaves the source.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Reads exactly `dst.byteLength` bytes at `offset` into `dst` (a caller's
   * buffer, e.g. a mapped GPU staging range), where the source can do so
   * without a buffer of its own; same errors as {@link read}.
   */
  readInto?(offset: number, dst: Uint8Array): Promise<void>;
  /** Releases an underlying handle (files); no-op for memory and blobs. */
  close?(): Promise<void>;
}

/** Throws a CheckpointError unless `[offset, offset+length)` lies inside a source of `size` bytes. */
export function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new CheckpointError(name, `read of ${length} bytes at offset ${offset} is outside the ${size}-byte file (truncated?)`);
  }
}

/** A source over bytes already in memory (tests, fetched files, fuzzing). */
export class MemorySource implements ByteSource {
  readonly size: number;
  constructor(private readonly bytes: Uint8Array, readonly name = 'memory') {
    this.size = bytes.byteLength;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this.name, this.size, offset, length);
    return this.bytes.slice(offset, offset + length);
  }
}

/**
 * A source over a browser `Blob` or `File` (also Node's `Blob`): each read
 * slices the blob, so the browser never loads the whole file.
 */
export class BlobSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  constructor(private readonly blob: Blob, name?: string) {
    this.size = blob.size;
    this.name = name ?? ((blob as { name?: unknown }).name as string | undefined) ?? 'blob';
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this.name, this.size, offset, length);
    let buf: ArrayBuffer;
    try {
      buf = await this.blob.slice(offset, offset + length).arrayBuffer();
    } catch (e) {
      throw new CheckpointError(this.name, `could not read ${length} bytes at offset ${offset}: ${describeError(e)}`, { cause: e });
    }
    if (buf.byteLength !== length) throw new CheckpointError(this.name, `short read: ${buf.byteLength} of ${length} bytes at offset ${offset}`);
    return new Uint8Array(buf);
  }
}

/** Reads a whole (small) source: config.json, an index file, a tokenizer. */
export async function readAllBytes(source: ByteSource, limit = 512 * 1024 * 1024): Promise<Uint8Array> {
  if (source.size > limit) throw new CheckpointError(source.name, `file is ${source.size} bytes, more than the ${limit}-byte limit for a whole-file read`);
  return source.read(0, source.size);
}

/** Reads a whole source as UTF-8 text; invalid UTF-8 is a CheckpointError. */
export async function readAllText(source: ByteSource, limit?: number): Promise<string> {
  const bytes = await readAllBytes(source, limit);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new CheckpointError(source.name, 'is not valid UTF-8 text', { cause: e });
  }
}

/** Reads and parses a whole JSON file; a syntax error names the file. */
export async function readJson(source: ByteSource, limit?: number): Promise<unknown> {
  const text = await readAllText(source, limit);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new CheckpointError(source.name, `is not valid JSON: ${describeError(e)}`, { cause: e });
  }
}
