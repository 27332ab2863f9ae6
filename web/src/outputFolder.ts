/**
 * The page's output checkpoint: files written by src/io's writers are kept as
 * Blobs (the browser may page large ones to disk) and become visible only
 * when their sink closes, so an aborted run leaves nothing that looks
 * complete. It is also a FolderSource, so the compressed model can be opened
 * again for evaluation without saving it first.
 */
import { BlobFolder, checkFileName, type ByteSink, type OutputFolder } from '../../src/index.js';

/** Reads go through {@link BlobFolder}; this adds the writing side. */
export class BlobOutputFolder extends BlobFolder implements OutputFolder {
  constructor(name: string) {
    super([], name);
  }

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
