/**
 * The page's output checkpoint: files written by src/io's writers are kept as
 * Blobs (the browser may page large ones to disk) and become visible only
 * when their sink closes, so an aborted run leaves nothing that looks
 * complete. It is also a FolderSource, so the compressed model can be opened
 * again for evaluation without saving it first.
 */
import { BlobSource, CheckpointError, checkFileName, type ByteSink, type ByteSource, type FolderSource, type OutputFolder } from '../../src/index.js';

export class BlobOutputFolder implements OutputFolder, FolderSource {
  private readonly byName = new Map<string, Blob>();

  constructor(readonly name: string) {}

  async createFile(file: string): Promise<ByteSink> {
    checkFileName(this.name, file);
    // new Blob() copies its parts, so writers may reuse their chunk buffers.
    const parts: Blob[] = [];
    let done = false;
    return {
      write: async (chunk) => {
        if (done) throw new Error(`${this.name}/${file}: write after close`);
        parts.push(new Blob([chunk as Uint8Array<ArrayBuffer>]));
      },
      close: async () => {
        done = true;
        this.byName.set(file, new Blob(parts));
      },
      abort: async () => {
        done = true;
        parts.length = 0;
      },
    };
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

  /** The finished files, by name. */
  entries(): [string, Blob][] {
    return [...this.byName.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  get totalBytes(): number {
    let n = 0;
    for (const b of this.byName.values()) n += b.size;
    return n;
  }
}
