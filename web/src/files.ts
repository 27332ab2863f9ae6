/**
 * Getting a model folder in and a checkpoint out of the page: the File System
 * Access API where the browser has it, `<input webkitdirectory>` and a zip
 * download otherwise.
 */
import { Zip, ZipPassThrough } from 'fflate';
import { BlobFolder, type FolderSource } from '../../src/index.js';
import type { BlobOutputFolder } from './outputFolder.js';
import { ZIP_LIMIT_BYTES } from './limits.js';

interface DirectoryHandle {
  readonly kind: 'directory';
  readonly name: string;
  values(): AsyncIterable<{ kind: 'file' | 'directory'; name: string; getFile?: () => Promise<File> }>;
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<DirectoryHandle>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<{ createWritable(): Promise<{ write(data: Blob): Promise<void>; close(): Promise<void>; abort(): Promise<void> }> }>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
}

type DirectoryPicker = (options?: { mode?: 'read' | 'readwrite'; id?: string }) => Promise<DirectoryHandle>;

function picker(): DirectoryPicker | undefined {
  const f = (globalThis as { showDirectoryPicker?: DirectoryPicker }).showDirectoryPicker;
  return typeof f === 'function' ? f.bind(globalThis) : undefined;
}

/** Whether the browser can open and write folders (File System Access API). */
export function hasDirectoryPicker(): boolean {
  return picker() !== undefined;
}

/**
 * A FolderSource over the files of an `<input webkitdirectory>` selection.
 * Only the folder's own files count: a checkpoint folder is flat, and a file
 * in a subfolder must not shadow one of the same name at the top.
 */
export function folderFromFileList(list: Iterable<File>): FolderSource {
  const files = [...list];
  const rel = (f: File): string[] => (f.webkitRelativePath || f.name).split('/');
  const top = files.filter((f) => rel(f).length <= 2);
  const name = files.length && rel(files[0]).length >= 2 ? rel(files[0])[0] : 'selected files';
  return new BlobFolder(top, name);
}

/** Lets the user pick a model folder with showDirectoryPicker; its top-level files only. */
export async function pickModelFolder(): Promise<FolderSource> {
  const pick = picker();
  if (!pick) throw new Error('this browser has no showDirectoryPicker; use the folder input instead');
  const dir = await pick({ mode: 'read', id: 'wgc-model' });
  const files: File[] = [];
  for await (const entry of dir.values()) {
    if (entry.kind === 'file' && entry.getFile) files.push(await entry.getFile());
  }
  return new BlobFolder(files, dir.name);
}

/**
 * Writes the checkpoint into a new subfolder `name` of a folder the user
 * picks. The subfolder must not exist yet; if a write fails it is removed, so
 * no partial checkpoint stays behind.
 */
export async function saveToPickedFolder(output: BlobOutputFolder, name: string, onFile?: (file: string) => void): Promise<string> {
  const pick = picker();
  if (!pick) throw new Error('this browser has no showDirectoryPicker; download the zip instead');
  const parent = await pick({ mode: 'readwrite', id: 'wgc-output' });
  let exists = false;
  try {
    await parent.getDirectoryHandle(name);
    exists = true;
  } catch {
    // NotFoundError: the name is free.
  }
  if (exists) throw new Error(`${parent.name}/${name} already exists; pick another folder or remove it first`);
  const dir = await parent.getDirectoryHandle(name, { create: true });
  try {
    for (const [file, blob] of output.entries()) {
      onFile?.(file);
      const w = await (await dir.getFileHandle(file, { create: true })).createWritable();
      try {
        await w.write(blob);
        await w.close();
      } catch (e) {
        await w.abort().catch(() => undefined);
        throw e;
      }
    }
  } catch (e) {
    await parent.removeEntry(name, { recursive: true }).catch(() => undefined);
    throw e;
  }
  return `${parent.name}/${name}`;
}

/**
 * A zip of the checkpoint, files under `root/`, stored uncompressed
 * (quantized weights do not deflate, and storing keeps it fast). Streams each
 * file through fflate so no file is copied into one big array.
 */
export async function zipCheckpoint(output: BlobOutputFolder, root: string): Promise<Blob> {
  const entries = output.entries();
  const total = entries.reduce((n, [, b]) => n + b.size, 0);
  if (total > ZIP_LIMIT_BYTES) throw new Error(`the checkpoint is ${total} bytes; zips written here are limited to 4 GiB (no ZIP64). Save into a folder instead`);
  const parts: Blob[] = [];
  let failed: Error | undefined;
  let finished!: () => void;
  const done = new Promise<void>((ok) => (finished = ok));
  const zip = new Zip((err, chunk, final) => {
    if (err) failed = err;
    else parts.push(new Blob([chunk as Uint8Array<ArrayBuffer>]));
    if (err || final) finished();
  });
  for (const [file, blob] of entries) {
    const entry = new ZipPassThrough(`${root}/${file}`);
    zip.add(entry);
    const reader = blob.stream().getReader();
    for (;;) {
      const { done: end, value } = await reader.read();
      if (end) break;
      entry.push(value);
    }
    entry.push(new Uint8Array(0), true);
    if (failed) throw failed;
  }
  zip.end();
  await done;
  if (failed) throw failed;
  return new Blob(parts, { type: 'application/zip' });
}

/** Starts a download of `blob` as `fileName`. */
export function download(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
