import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError, describeError } from '../errors.js';
import { type FolderSource, checkFileName } from '../folder.js';
import type { ByteSource } from '../source.js';
import { FileSource } from './fileSource.js';

/** A directory on disk as a {@link FolderSource}. */
export class NodeFolder implements FolderSource {
  constructor(readonly name: string) {}

  async list(): Promise<string[]> {
    try {
      const entries = await readdir(this.name, { withFileTypes: true });
      return entries.filter((e) => e.isFile() || e.isSymbolicLink()).map((e) => e.name).sort();
    } catch (e) {
      throw new CheckpointError(this.name, `cannot list folder: ${describeError(e)}`, { cause: e });
    }
  }

  async exists(file: string): Promise<boolean> {
    checkFileName(this.name, file);
    try {
      return (await stat(join(this.name, file))).isFile();
    } catch {
      return false;
    }
  }

  async open(file: string): Promise<ByteSource> {
    checkFileName(this.name, file);
    const path = join(this.name, file);
    if (!(await this.exists(file))) throw new CheckpointError(path, 'file not found');
    return FileSource.open(path);
  }
}

/** Opens a directory as a {@link FolderSource}; a missing directory is a CheckpointError. */
export async function openNodeFolder(path: string): Promise<NodeFolder> {
  let isDir = false;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (e) {
    throw new CheckpointError(path, `cannot open folder: ${describeError(e)}`, { cause: e });
  }
  if (!isDir) throw new CheckpointError(path, 'is not a folder');
  return new NodeFolder(path);
}
