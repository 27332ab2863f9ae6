import { open, type FileHandle } from 'node:fs/promises';
import { CheckpointError, describeError } from '../errors.js';
import { type ByteSource, checkRange } from '../source.js';

/** Largest single `read()` call: Node's FileHandle.read takes an int32 length. */
const MAX_READ = 1 << 30;

/** A {@link ByteSource} over a file on disk; reads are positioned, so one handle serves every tensor. */
export class FileSource implements ByteSource {
  private constructor(private readonly handle: FileHandle, readonly name: string, readonly size: number) {}

  /** Opens `path` for reading; a missing or unreadable file is a CheckpointError naming it. */
  static async open(path: string): Promise<FileSource> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (e) {
      throw new CheckpointError(path, `cannot open: ${describeError(e)}`, { cause: e });
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new CheckpointError(path, 'is not a regular file');
      return new FileSource(handle, path, st.size);
    } catch (e) {
      await handle.close();
      if (e instanceof CheckpointError) throw e;
      throw new CheckpointError(path, `cannot stat: ${describeError(e)}`, { cause: e });
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.readInto(offset, out);
    return out;
  }

  async readInto(offset: number, out: Uint8Array): Promise<void> {
    const length = out.byteLength;
    checkRange(this.name, this.size, offset, length);
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        ({ bytesRead: n } = await this.handle.read(out, done, Math.min(MAX_READ, length - done), offset + done));
      } catch (e) {
        throw new CheckpointError(this.name, `read of ${length} bytes at offset ${offset} failed: ${describeError(e)}`, { cause: e });
      }
      if (n === 0) throw new CheckpointError(this.name, `unexpected end of file at offset ${offset + done} (file shrank while reading?)`);
      done += n;
    }
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

/** Opens a file on disk as a {@link ByteSource}. */
export function openFileSource(path: string): Promise<FileSource> {
  return FileSource.open(path);
}
