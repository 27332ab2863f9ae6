import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryFolder } from '../../src/io/folder.js';
import { type TensorEntry, type WriteSafetensorsOptions, writeSafetensors } from '../../src/io/safetensors/writer.js';

/** The repository root (two levels above this file). */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
/** ../shared beside the checkout, or undefined when it is absent. */
export const sharedDir: string | undefined = (() => {
  const p = resolve(repoRoot, '..', 'shared');
  return existsSync(p) ? p : undefined;
})();
/** stories260K's folder, or undefined (tests skip with a message). */
export const stories260K: string | undefined = sharedDir && existsSync(resolve(sharedDir, 'models/stories260K/model.safetensors')) ? resolve(sharedDir, 'models/stories260K') : undefined;
if (!stories260K) console.warn('[test/io] ../shared/models/stories260K is absent: tests on the real model are skipped');

/** Writes entries into an in-memory safetensors file and returns its bytes. */
export async function safetensorsBytes(entries: readonly TensorEntry[], options: WriteSafetensorsOptions = {}): Promise<Uint8Array> {
  const folder = new MemoryFolder('mem');
  await writeSafetensors(await folder.createFile('t.safetensors'), entries, { file: 't.safetensors', ...options });
  return folder.files.get('t.safetensors') as Uint8Array;
}

/** A safetensors file from raw header text (padded to 8 with spaces) and data bytes. */
export function rawSafetensors(header: string, data: Uint8Array = new Uint8Array(0), declaredLength?: number): Uint8Array {
  const json = new TextEncoder().encode(header);
  const n = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + n + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(declaredLength ?? n), true);
  out.fill(0x20, 8, 8 + n);
  out.set(json, 8);
  out.set(data, 8 + n);
  return out;
}
