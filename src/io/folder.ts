import { CheckpointError } from './errors.js';
import { type ByteSource, BlobSource, MemorySource } from './source.js';

/**
 * A folder of checkpoint files to read: a directory on disk (Node, see
 * `src/io/node/folder.ts`), a set of browser `File`s, or memory. Names are
 * flat file names such as `config.json` or `model-00001-of-00002.safetensors`.
 */
export interface FolderSource {
  /** Path or label used in error messages. */
  readonly name: string;
  /** The file names in the folder (no subfolders). */
  list(): Promise<string[]>;
  exists(file: string): Promise<boolean>;
  /** Opens a file; a missing file is a CheckpointError naming the folder and the file. */
  open(file: string): Promise<ByteSource>;
}

/** A sequential byte stream into one output file. */
export interface ByteSink {
  write(chunk: Uint8Array): Promise<void>;
  /** Flushes and closes; the file is complete only after this resolves. */
  close(): Promise<void>;
  /** Closes without completing (after an error); the folder discards the file. */
  abort?(): Promise<void>;
}

/**
 * A folder being written. Node's implementation writes into a temporary
 * folder beside the target and renames it into place on commit, so a failed
 * write never leaves a partial checkpoint (see `src/io/node/output.ts`).
 */
export interface OutputFolder {
  readonly name: string;
  createFile(file: string): Promise<ByteSink>;
}

/**
 * Rejects names that could escape the folder or that a checkpoint never uses:
 * empty, absolute, containing a path separator, `.` or `..`, or a NUL byte.
 */
export function checkFileName(folder: string, file: string): void {
  if (file === '' || file === '.' || file === '..' || /[\\/\0]/.test(file)) {
    throw new CheckpointError(folder, `"${file}" is not a plain file name (no paths, "..", or separators allowed)`);
  }
}

/** Writes a whole small file (config.json, an index, a recipe). */
export async function writeWholeFile(out: OutputFolder, file: string, data: Uint8Array | string): Promise<void> {
  const sink = await out.createFile(file);
  try {
    await sink.write(typeof data === 'string' ? new TextEncoder().encode(data) : data);
    await sink.close();
  } catch (e) {
    await sink.abort?.();
    throw e;
  }
}

/**
 * A folder held in memory: readable and writable. Used by tests, by the fuzz
 * harness, and in a browser to collect an output checkpoint before offering
 * the files for download. Files appear only when their sink is closed.
 */
export class MemoryFolder implements FolderSource, OutputFolder {
  readonly files = new Map<string, Uint8Array>();

  constructor(readonly name = 'memory', files?: Record<string, Uint8Array | string>) {
    for (const [k, v] of Object.entries(files ?? {})) this.files.set(k, typeof v === 'string' ? new TextEncoder().encode(v) : v);
  }

  async list(): Promise<string[]> {
    return [...this.files.keys()].sort();
  }

  async exists(file: string): Promise<boolean> {
    return this.files.has(file);
  }

  async open(file: string): Promise<ByteSource> {
    const bytes = this.files.get(file);
    if (!bytes) throw new CheckpointError(`${this.name}/${file}`, 'file not found');
    return new MemorySource(bytes, `${this.name}/${file}`);
  }

  async createFile(file: string): Promise<ByteSink> {
    checkFileName(this.name, file);
    const parts: Uint8Array[] = [];
    let done = false;
    return {
      write: async (chunk) => {
        if (done) throw new Error(`${this.name}/${file}: write after close`);
        parts.push(chunk.slice());
      },
      close: async () => {
        done = true;
        const total = parts.reduce((n, p) => n + p.byteLength, 0);
        const all = new Uint8Array(total);
        let o = 0;
        for (const p of parts) {
          all.set(p, o);
          o += p.byteLength;
        }
        this.files.set(file, all);
      },
      abort: async () => {
        done = true;
      },
    };
  }

  /** A file's text (tests). */
  text(file: string): string {
    const b = this.files.get(file);
    if (!b) throw new CheckpointError(`${this.name}/${file}`, 'file not found');
    return new TextDecoder().decode(b);
  }
}

/**
 * A folder over browser `File` objects (e.g. from `<input type="file"
 * webkitdirectory>` or a drop): files are keyed by their base name and read
 * lazily through {@link BlobSource}.
 */
export class BlobFolder implements FolderSource {
  /** The files by base name (subclasses that write add to it). */
  protected readonly byName = new Map<string, Blob>();

  constructor(files: Iterable<Blob & { readonly name: string }>, readonly name = 'files') {
    for (const f of files) this.byName.set(f.name.split('/').pop() as string, f);
  }

  async list(): Promise<string[]> {
    return [...this.byName.keys()].sort();
  }

  async exists(file: string): Promise<boolean> {
    return this.byName.has(file);
  }

  async open(file: string): Promise<ByteSource> {
    const blob = this.byName.get(file);
    if (!blob) throw new CheckpointError(`${this.name}/${file}`, 'file not found');
    return new BlobSource(blob, `${this.name}/${file}`);
  }
}
