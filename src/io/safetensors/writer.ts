import { CheckpointError, describeError } from '../errors.js';
import { type ByteSink, type OutputFolder, writeWholeFile } from '../folder.js';
import { compareCodePoints, stringifySorted } from '../json.js';
import { type SafetensorsDType, bytesOf, dtypeRank, dtypeSize, isSafetensorsDType } from './dtype.js';
import { SAFETENSORS_FILE, SAFETENSORS_INDEX_FILE } from './store.js';

/** Tensor bytes: one buffer, any typed array (its bytes are taken as they are), or a stream of chunks. */
export type TensorBytes = Uint8Array | ArrayBufferView | AsyncIterable<Uint8Array>;

/**
 * One tensor to write. `data` may be a function: it is called exactly once,
 * when the writer reaches the tensor, so a checkpoint streams tensor by
 * tensor instead of being held in memory.
 */
export interface TensorEntry {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly data: TensorBytes | (() => TensorBytes | Promise<TensorBytes>);
}

/** Options of {@link writeSafetensors}. */
export interface WriteSafetensorsOptions {
  /** `__metadata__`; defaults to `{"format": "pt"}`, which transformers requires (§1.4); null writes none. */
  metadata?: Record<string, string> | null;
  /** Name used in error messages (the file being written). */
  file?: string;
}

/** Bytes a tensor entry's data must have: numel × dtype size. */
export function entryByteLength(e: Pick<TensorEntry, 'dtype' | 'shape'>): number {
  let n = dtypeSize(e.dtype);
  for (const d of e.shape) n *= d;
  return n;
}

/**
 * The layout order of `safetensors.torch.save_file` (Rust `prepare`): by
 * dtype in descending alignment, then by name (code-point order), so that
 * every tensor starts 8-byte aligned when the padded header is.
 */
export function canonicalOrder<T extends Pick<TensorEntry, 'name' | 'dtype'>>(entries: readonly T[]): T[] {
  return [...entries].sort((a, b) => dtypeRank(b.dtype) - dtypeRank(a.dtype) || compareCodePoints(a.name, b.name));
}

function checkEntries(file: string, entries: readonly TensorEntry[]): void {
  const seen = new Set<string>();
  for (const e of entries) {
    if (e.name === '__metadata__') throw new CheckpointError(file, '"__metadata__" is reserved and cannot name a tensor', { tensor: e.name });
    if (seen.has(e.name)) throw new CheckpointError(file, 'two tensors have this name', { tensor: e.name });
    seen.add(e.name);
    if (!isSafetensorsDType(e.dtype)) throw new CheckpointError(file, `unknown dtype "${String(e.dtype)}"`, { tensor: e.name });
    for (const d of e.shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new CheckpointError(file, `shape [${e.shape.join(', ')}] has a dimension that is not a non-negative integer`, { tensor: e.name });
    }
  }
}

/**
 * The header bytes (JSON, space-padded to a multiple of 8) for `ordered`
 * entries laid out in the given order. Keys: `__metadata__` first (its keys
 * sorted), then the tensors in layout order, each as
 * `{"dtype","shape","data_offsets"}` — byte for byte what the Rust writer
 * serialises.
 */
export function buildSafetensorsHeader(ordered: readonly Pick<TensorEntry, 'name' | 'dtype' | 'shape'>[], metadata: Record<string, string> | null): Uint8Array {
  const parts: string[] = [];
  if (metadata) {
    const keys = Object.keys(metadata).sort(compareCodePoints);
    parts.push(`"__metadata__":{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(',')}}`);
  }
  let offset = 0;
  for (const e of ordered) {
    const n = entryByteLength(e);
    parts.push(`${JSON.stringify(e.name)}:{"dtype":"${e.dtype}","shape":[${e.shape.join(',')}],"data_offsets":[${offset},${offset + n}]}`);
    offset += n;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = new Uint8Array(Math.ceil(json.byteLength / 8) * 8).fill(0x20);
  padded.set(json);
  return padded;
}

/**
 * Writes one safetensors file to `sink` in the canonical layout, pulling each
 * tensor's data only when it is written. A tensor whose data has the wrong
 * length is a CheckpointError naming it (the sink is then aborted, so the
 * output folder discards the file). Returns the file size.
 */
export async function writeSafetensors(sink: ByteSink, entries: readonly TensorEntry[], options: WriteSafetensorsOptions = {}): Promise<number> {
  const file = options.file ?? 'safetensors';
  try {
    checkEntries(file, entries);
    const ordered = canonicalOrder(entries);
    const header = buildSafetensorsHeader(ordered, options.metadata === undefined ? { format: 'pt' } : options.metadata);
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setBigUint64(0, BigInt(header.byteLength), true);
    await sink.write(prefix);
    await sink.write(header);
    let total = 8 + header.byteLength;
    for (const e of ordered) total += await writeTensorData(sink, e, file);
    await sink.close();
    return total;
  } catch (e) {
    await sink.abort?.().catch(() => undefined);
    if (e instanceof CheckpointError) throw e;
    throw new CheckpointError(file, `write failed: ${describeError(e)}`, { cause: e });
  }
}

async function writeTensorData(sink: ByteSink, e: TensorEntry, file: string): Promise<number> {
  const want = entryByteLength(e);
  const data = typeof e.data === 'function' ? await e.data() : e.data;
  let got = 0;
  const put = async (chunk: Uint8Array) => {
    got += chunk.byteLength;
    if (got > want) throw new CheckpointError(file, `data has more than the ${want} bytes ${e.dtype} [${e.shape.join(', ')}] needs`, { tensor: e.name });
    if (chunk.byteLength > 0) await sink.write(chunk);
  };
  if (ArrayBuffer.isView(data)) {
    if (data.byteLength !== want) throw new CheckpointError(file, `data has ${data.byteLength} bytes but ${e.dtype} [${e.shape.join(', ')}] needs ${want}`, { tensor: e.name });
    await put(bytesOf(data));
  } else for await (const chunk of data) await put(chunk);
  if (got !== want) throw new CheckpointError(file, `data has ${got} bytes but ${e.dtype} [${e.shape.join(', ')}] needs ${want}`, { tensor: e.name });
  return want;
}

/** Options of {@link writeSafetensorsCheckpoint}. */
export interface WriteCheckpointOptions {
  /**
   * Largest shard in tensor bytes before a new shard starts; default 5 GB
   * (transformers' `max_shard_size="5GB"`). A tensor larger than this gets a
   * shard of its own; tensors are never split.
   */
  maxShardBytes?: number;
  /** `__metadata__` of every file; default `{"format": "pt"}`. */
  metadata?: Record<string, string> | null;
}

/** What {@link writeSafetensorsCheckpoint} wrote. */
export interface WrittenWeights {
  /** Weight files in order (`model.safetensors`, or the shards). */
  readonly files: readonly string[];
  /** Sum of tensor data bytes (the index's `total_size`). */
  readonly totalSize: number;
  /** Tensor name → file. */
  readonly weightMap: ReadonlyMap<string, string>;
  /** True when `model.safetensors.index.json` was written. */
  readonly sharded: boolean;
}

/** Orders names so that numeric runs compare as numbers (`layers.2` before `layers.10`). */
export function compareNatural(a: string, b: string): number {
  const ra = a.match(/\d+|\D+/g) ?? [];
  const rb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    const x = ra[i];
    const y = rb[i];
    if (x === y) continue;
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
    }
    return compareCodePoints(x, y);
  }
  return ra.length - rb.length || compareCodePoints(a, b);
}

/**
 * Splits tensors into shards of at most `maxShardBytes` tensor bytes, in
 * natural name order (so a layer's tensors stay together), starting a new
 * shard when the next tensor would overflow the current one.
 */
export function planShards<T extends Pick<TensorEntry, 'name' | 'dtype' | 'shape'>>(entries: readonly T[], maxShardBytes: number): T[][] {
  const shards: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const e of [...entries].sort((a, b) => compareNatural(a.name, b.name))) {
    const n = entryByteLength(e);
    if (current.length > 0 && size + n > maxShardBytes) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(e);
    size += n;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  return shards;
}

/** Shard file name as transformers writes it: `model-00001-of-00003.safetensors`. */
export function shardFileName(index: number, count: number): string {
  return `model-${String(index + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.safetensors`;
}

/**
 * Writes a model's weights into `out`: `model.safetensors` when everything
 * fits one shard, else numbered shards plus `model.safetensors.index.json`
 * (`metadata.total_size` and a `weight_map` listing every tensor, §1.5).
 * Tensors stream one at a time.
 */
export async function writeSafetensorsCheckpoint(out: OutputFolder, entries: readonly TensorEntry[], options: WriteCheckpointOptions = {}): Promise<WrittenWeights> {
  const max = options.maxShardBytes ?? 5_000_000_000;
  if (!(max > 0)) throw new CheckpointError(out.name, `maxShardBytes must be positive, got ${max}`);
  checkEntries(out.name, entries);
  const shards = planShards(entries, max);
  const files = shards.length === 1 ? [SAFETENSORS_FILE] : shards.map((_, i) => shardFileName(i, shards.length));
  const weightMap = new Map<string, string>();
  let totalSize = 0;
  for (let i = 0; i < shards.length; i++) {
    const sink = await out.createFile(files[i]);
    await writeSafetensors(sink, shards[i], { metadata: options.metadata, file: `${out.name}/${files[i]}` });
    for (const e of shards[i]) {
      weightMap.set(e.name, files[i]);
      totalSize += entryByteLength(e);
    }
  }
  if (shards.length > 1) {
    const index = {
      metadata: { total_size: totalSize },
      weight_map: Object.fromEntries([...weightMap].sort((a, b) => compareCodePoints(a[0], b[0]))),
    };
    await writeWholeFile(out, SAFETENSORS_INDEX_FILE, `${stringifySorted(index)}\n`);
  }
  return { files, totalSize, weightMap, sharded: shards.length > 1 };
}
