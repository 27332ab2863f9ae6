import { CheckpointError } from '../errors.js';
import type { FolderSource } from '../folder.js';
import { checkFileName } from '../folder.js';
import type { ByteSource } from '../source.js';
import { readAllText } from '../source.js';
import { findDuplicateKey, isJsonObject, preview } from '../json.js';
import { type TensorStore, SafetensorsStore, openSafetensors, type SafetensorsFile } from './reader.js';

/** The single-file weights name transformers writes. */
export const SAFETENSORS_FILE = 'model.safetensors';
/** The shard index name transformers writes (compressed-tensors.md §1.5). */
export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';

/** A parsed `model.safetensors.index.json`. */
export interface SafetensorsIndex {
  /** `metadata` as written (usually `{ total_size }`). */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Tensor name → shard file name. */
  readonly weightMap: ReadonlyMap<string, string>;
}

/** Parses and checks an index file's JSON text: an object with a `weight_map` of string → plain file name. */
export function parseSafetensorsIndex(file: string, text: string): SafetensorsIndex {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(file, `is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (!isJsonObject(parsed)) throw new CheckpointError(file, 'is not a JSON object');
  const dup = findDuplicateKey(text);
  if (dup) throw new CheckpointError(file, `has the key "${dup.key}" twice${dup.path ? ` in "${dup.path}"` : ''}`);
  const wm = parsed.weight_map;
  if (!isJsonObject(wm)) throw new CheckpointError(file, 'has no "weight_map" object', { field: 'weight_map' });
  const metadata = parsed.metadata === undefined || parsed.metadata === null ? {} : parsed.metadata;
  if (!isJsonObject(metadata)) throw new CheckpointError(file, '"metadata" must be an object', { field: 'metadata' });
  const weightMap = new Map<string, string>();
  for (const [k, v] of Object.entries(wm)) {
    if (typeof v !== 'string') throw new CheckpointError(file, `maps tensor to ${preview(v)}, expected a shard file name`, { field: `weight_map.${k}` });
    checkFileName(file, v);
    weightMap.set(k, v);
  }
  return { metadata, weightMap };
}

/**
 * Opens the weights of a Hugging Face model folder: the shards listed by
 * `model.safetensors.index.json` when it exists (only their headers are read;
 * every key of `weight_map` must be in the shard it names, and a missing
 * shard is an error naming it), else `model.safetensors`, else the folder's
 * only `*.safetensors` file.
 */
export async function openSafetensorsFolder(folder: FolderSource): Promise<TensorStore> {
  if (await folder.exists(SAFETENSORS_INDEX_FILE)) return openSharded(folder);
  if (await folder.exists(SAFETENSORS_FILE)) return openSafetensors(await folder.open(SAFETENSORS_FILE));
  const candidates = (await folder.list()).filter((f) => f.endsWith('.safetensors'));
  if (candidates.length === 1) return openSafetensors(await folder.open(candidates[0]));
  if (candidates.length > 1) {
    throw new CheckpointError(folder.name, `has ${candidates.length} .safetensors files (${candidates.slice(0, 3).join(', ')}, …) but no ${SAFETENSORS_INDEX_FILE} saying which tensor is where`);
  }
  throw new CheckpointError(folder.name, `has no ${SAFETENSORS_FILE}, no ${SAFETENSORS_INDEX_FILE} and no other .safetensors file`);
}

async function openSharded(folder: FolderSource): Promise<TensorStore> {
  const indexSource = await folder.open(SAFETENSORS_INDEX_FILE);
  const indexName = indexSource.name;
  const index = parseSafetensorsIndex(indexName, await readAllText(indexSource, 256 * 1024 * 1024));
  await indexSource.close?.();
  const shardNames = [...new Set(index.weightMap.values())].sort();
  const opened = new Map<string, SafetensorsFile>();
  const sources: ByteSource[] = [];
  try {
    for (const shard of shardNames) {
      if (!(await folder.exists(shard))) {
        const example = [...index.weightMap].find(([, f]) => f === shard)?.[0];
        throw new CheckpointError(indexName, `weight_map names shard "${shard}" (e.g. for tensor "${example}"), which is not in ${folder.name}`);
      }
      const src = await folder.open(shard);
      sources.push(src);
      opened.set(shard, await openSafetensors(src));
    }
    const problems: string[] = [];
    const entries = [];
    for (const [tensor, shard] of index.weightMap) {
      const file = opened.get(shard) as SafetensorsFile;
      if (!file.has(tensor)) throw new CheckpointError(indexName, `weight_map puts the tensor in "${shard}", which has no such tensor`, { tensor });
      entries.push({ info: file.info(tensor), source: file.source });
    }
    let total = 0;
    for (const [shard, file] of opened) {
      for (const t of file.tensors) {
        total += t.byteLength;
        const mapped = index.weightMap.get(t.name);
        if (mapped === undefined) problems.push(`${shard}: tensor "${t.name}" is not listed in ${SAFETENSORS_INDEX_FILE} (transformers will not load it)`);
        else if (mapped !== shard) problems.push(`${shard}: tensor "${t.name}" also appears here, but the index maps it to "${mapped}"`);
      }
    }
    const declared = index.metadata.total_size;
    if (typeof declared === 'number' && declared !== total) {
      problems.push(`${SAFETENSORS_INDEX_FILE}: metadata.total_size is ${declared}, but the shards hold ${total} tensor bytes`);
    }
    const first = opened.get(shardNames[0]);
    return new SafetensorsStore(folder.name, entries, sources, first?.metadata ?? {}, problems);
  } catch (e) {
    for (const s of sources) await s.close?.();
    throw e;
  }
}
