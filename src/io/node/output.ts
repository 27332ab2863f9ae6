import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { CheckpointError, describeError } from '../errors.js';
import { type ByteSink, type OutputFolder, checkFileName } from '../folder.js';

/** Options of {@link NodeOutputFolder.create}. */
export interface NodeOutputOptions {
  /** Replace an existing non-empty target folder (`--overwrite`). Default false. */
  overwrite?: boolean;
  /**
   * Wraps each file's sink; tests use it to inject write failures (a full
   * disk) and check that nothing appears at the target.
   */
  wrapSink?: (sink: ByteSink, file: string) => ByteSink;
}

/** Bytes gathered before one `write()` system call. */
const WRITE_BUFFER = 8 * 1024 * 1024;

/**
 * An output checkpoint folder with all-or-nothing semantics: files are
 * written into a temporary folder beside the target (`.wgc-tmp-<name>-…`,
 * same file system, so the final rename is atomic) and {@link commit} moves
 * it into place. An existing non-empty target is refused unless `overwrite`;
 * with `overwrite` the old folder is moved aside and deleted only after the
 * new one is in place. {@link abort} (or any failure inside
 * {@link writeOutputFolder}) deletes the temporary folder, leaving the target
 * as it was.
 */
export class NodeOutputFolder implements OutputFolder {
  private state: 'open' | 'committed' | 'aborted' = 'open';
  private readonly sinks = new Set<FileSink>();

  private constructor(readonly name: string, readonly tempPath: string, private readonly options: NodeOutputOptions) {}

  /** Checks the target and creates the temporary folder beside it. */
  static async create(target: string, options: NodeOutputOptions = {}): Promise<NodeOutputFolder> {
    const path = resolve(target);
    await checkTarget(path, options.overwrite ?? false);
    const parent = dirname(path);
    try {
      await mkdir(parent, { recursive: true });
      const temp = join(parent, `.wgc-tmp-${basename(path)}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
      await mkdir(temp);
      return new NodeOutputFolder(target, temp, options);
    } catch (e) {
      throw new CheckpointError(target, `cannot create a temporary output folder beside it: ${describeError(e)}`, { cause: e });
    }
  }

  async createFile(file: string): Promise<ByteSink> {
    if (this.state !== 'open') throw new CheckpointError(this.name, `cannot create "${file}": output already ${this.state}`);
    checkFileName(this.name, file);
    const path = join(this.tempPath, file);
    let handle: FileHandle;
    try {
      handle = await open(path, 'wx');
    } catch (e) {
      throw new CheckpointError(join(this.name, file), `cannot create: ${describeError(e)}`, { cause: e });
    }
    const sink = new FileSink(handle, join(this.name, file), () => this.sinks.delete(sink));
    this.sinks.add(sink);
    return this.options.wrapSink ? this.options.wrapSink(sink, file) : sink;
  }

  /** Moves the finished folder to the target. Fails if a file is still open. */
  async commit(): Promise<void> {
    if (this.state !== 'open') throw new CheckpointError(this.name, `cannot commit: output already ${this.state}`);
    if (this.sinks.size > 0) throw new CheckpointError(this.name, `cannot commit: ${this.sinks.size} file(s) still open`);
    const target = resolve(this.name);
    await checkTarget(target, this.options.overwrite ?? false);
    let old: string | undefined;
    if (await exists(target)) {
      old = join(dirname(target), `.wgc-old-${basename(target)}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
      await rename(target, old).catch((e: unknown) => {
        throw new CheckpointError(this.name, `cannot move the existing folder aside: ${describeError(e)}`, { cause: e });
      });
    }
    try {
      await rename(this.tempPath, target);
    } catch (e) {
      if (old) await rename(old, target).catch(() => undefined);
      throw new CheckpointError(this.name, `cannot move the finished checkpoint into place: ${describeError(e)}`, { cause: e });
    }
    this.state = 'committed';
    if (old) await rm(old, { recursive: true, force: true });
  }

  /** Deletes the temporary folder; the target is untouched. Safe to call twice. */
  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    for (const s of [...this.sinks]) await s.abort();
    await rm(this.tempPath, { recursive: true, force: true });
  }
}

/**
 * Runs `write` against a new {@link NodeOutputFolder} for `target` and
 * commits it; any error aborts it, so the target is either the complete
 * checkpoint or what it was before.
 */
export async function writeOutputFolder<T>(target: string, options: NodeOutputOptions, write: (out: NodeOutputFolder) => Promise<T>): Promise<T> {
  const out = await NodeOutputFolder.create(target, options);
  try {
    const result = await write(out);
    await out.commit();
    return result;
  } catch (e) {
    await out.abort();
    throw e;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function checkTarget(path: string, overwrite: boolean): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    return; // does not exist: fine
  }
  if (!isDir) throw new CheckpointError(path, 'output path exists and is not a folder');
  if (!overwrite && (await readdir(path)).length > 0) {
    throw new CheckpointError(path, 'output folder exists and is not empty; pass --overwrite to replace it');
  }
}

/** A buffered, positioned writer into one file of the temporary folder. */
class FileSink implements ByteSink {
  private buffer = new Uint8Array(WRITE_BUFFER);
  private used = 0;
  private position = 0;
  private closed = false;

  constructor(private readonly handle: FileHandle, private readonly file: string, private readonly onDone: () => void) {}

  async write(chunk: Uint8Array): Promise<void> {
    if (this.closed) throw new CheckpointError(this.file, 'write after close');
    if (this.used + chunk.byteLength <= this.buffer.byteLength) {
      this.buffer.set(chunk, this.used);
      this.used += chunk.byteLength;
      return;
    }
    await this.flush();
    if (chunk.byteLength >= this.buffer.byteLength) await this.writeAll(chunk);
    else {
      this.buffer.set(chunk, 0);
      this.used = chunk.byteLength;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
      await this.handle.sync();
    } catch (e) {
      await this.abort();
      throw e instanceof CheckpointError ? e : new CheckpointError(this.file, `write failed: ${describeError(e)}`, { cause: e });
    }
    this.closed = true;
    await this.handle.close();
    this.onDone();
  }

  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close().catch(() => undefined);
    this.onDone();
  }

  private async flush(): Promise<void> {
    if (this.used === 0) return;
    await this.writeAll(this.buffer.subarray(0, this.used));
    this.used = 0;
  }

  private async writeAll(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.byteLength) {
      let n: number;
      try {
        ({ bytesWritten: n } = await this.handle.write(bytes, done, Math.min(bytes.byteLength - done, 1 << 30), this.position));
      } catch (e) {
        throw new CheckpointError(this.file, `write failed: ${describeError(e)}`, { cause: e });
      }
      if (n === 0) throw new CheckpointError(this.file, 'write made no progress (disk full?)');
      done += n;
      this.position += n;
    }
  }
}
