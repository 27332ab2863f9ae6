import { CheckpointError, describeError } from '../errors.js';
import { findDuplicateKey, isJsonObject, preview } from '../json.js';

export { preview };
import { type SafetensorsDType, SAFETENSORS_DTYPES, dtypeSize, isSafetensorsDType } from './dtype.js';

/** safetensors' `MAX_HEADER_SIZE` (compressed-tensors.md §1.1). */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor as a safetensors header describes it, with absolute file offsets resolved. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** `[BEGIN, END)` relative to the start of the data buffer, as written in the header. */
  readonly dataOffsets: readonly [number, number];
  /** Absolute offset of the tensor's first byte in its file (`8 + N + BEGIN`). */
  readonly byteOffset: number;
  readonly byteLength: number;
  /** Number of elements (1 for a scalar, 0 if any dimension is 0). */
  readonly numel: number;
  /** The file that holds the tensor (a shard's name for sharded checkpoints). */
  readonly file: string;
}

/** A validated safetensors header. */
export interface SafetensorsHeader {
  readonly file: string;
  /** N, the JSON length (padding included). */
  readonly headerLength: number;
  /** Absolute offset of the data buffer, `8 + N`. */
  readonly dataStart: number;
  /** `__metadata__` (string → string), or null when absent. */
  readonly metadata: Readonly<Record<string, string>> | null;
  /** Tensors in data-offset order (the file's layout order). */
  readonly tensors: readonly TensorInfo[];
}

/**
 * Reads N from the 8-byte little-endian prefix and checks it against the
 * 100 MB limit and the file size, before anything of that size is allocated.
 */
export function parseHeaderLength(file: string, prefix: Uint8Array, fileSize: number): number {
  if (fileSize < 8 || prefix.byteLength < 8) {
    throw new CheckpointError(file, `file is ${fileSize} bytes, too short for the 8-byte header length (truncated or not a safetensors file)`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new CheckpointError(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt file or not safetensors)`);
  }
  const len = Number(n);
  if (8 + len > fileSize) {
    throw new CheckpointError(file, `header length ${len} runs past the end of the ${fileSize}-byte file (truncated?)`);
  }
  if (len < 2) throw new CheckpointError(file, `header length ${len} is too short for a JSON object`);
  return len;
}

/**
 * Parses and validates the JSON header the way the Rust reference reader
 * does (compressed-tensors.md §1.1), and more strictly where it is lax:
 * UTF-8, starts with `{`, a JSON object, no duplicate keys, `__metadata__`
 * mapping strings to strings, known dtypes, integer shapes and offsets,
 * `END - BEGIN == numel × dtype size`, offsets starting at 0 and contiguous
 * (no gaps, no overlaps), and the data ending exactly at the end of the file.
 */
export function parseSafetensorsHeader(file: string, json: Uint8Array, fileSize: number): SafetensorsHeader {
  const headerLength = json.byteLength;
  const dataStart = 8 + headerLength;
  const dataBytes = fileSize - dataStart;
  if (dataBytes < 0) throw new CheckpointError(file, `header length ${headerLength} runs past the end of the ${fileSize}-byte file (truncated?)`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch (e) {
    throw new CheckpointError(file, 'header is not valid UTF-8', { cause: e });
  }
  if (text.charCodeAt(0) !== 0x7b) throw new CheckpointError(file, `header does not start with '{' (first byte 0x${(json[0] ?? 0).toString(16).padStart(2, '0')}); not a safetensors file?`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(file, `header is not valid JSON: ${describeError(e)}`, { cause: e });
  }
  if (!isJsonObject(parsed)) throw new CheckpointError(file, 'header is not a JSON object');
  const dup = findDuplicateKey(text);
  if (dup) throw new CheckpointError(file, `header has the key "${dup.key}" twice${dup.path ? ` in "${dup.path}"` : ''}`);

  let metadata: Record<string, string> | null = null;
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(parsed)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(file, entry);
      continue;
    }
    tensors.push(parseTensorEntry(file, name, entry, dataStart, dataBytes));
  }

  tensors.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let end = 0;
  let prev: TensorInfo | undefined;
  for (const t of tensors) {
    const [b, e] = t.dataOffsets;
    if (b > end) {
      throw new CheckpointError(file, `data_offsets [${b}, ${e}] leave a ${b - end}-byte gap after ${prev ? `tensor "${prev.name}" (ends at ${end})` : 'the start of the data buffer'}`, { tensor: t.name });
    }
    if (b < end && prev) {
      throw new CheckpointError(file, `data_offsets [${b}, ${e}] overlap tensor "${prev.name}" [${prev.dataOffsets[0]}, ${prev.dataOffsets[1]}]`, { tensor: t.name });
    }
    end = e;
    prev = t;
  }
  if (end !== dataBytes) {
    throw new CheckpointError(file, `the tensors cover ${end} data bytes but the file holds ${dataBytes} after the header (${dataBytes - end} trailing bytes)`);
  }
  return { file, headerLength, dataStart, metadata, tensors };
}

function parseMetadata(file: string, entry: unknown): Record<string, string> | null {
  if (entry === null) return null;
  if (!isJsonObject(entry)) throw new CheckpointError(file, '__metadata__ must be an object mapping strings to strings', { field: '__metadata__' });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(entry)) {
    if (typeof v !== 'string') {
      throw new CheckpointError(file, `__metadata__ values must be strings, "${k}" is ${describeJsonType(v)}`, { field: `__metadata__.${k}` });
    }
    out[k] = v;
  }
  return out;
}

function parseTensorEntry(file: string, name: string, entry: unknown, dataStart: number, dataBytes: number): TensorInfo {
  const fail = (detail: string): never => {
    throw new CheckpointError(file, detail, { tensor: name });
  };
  if (!isJsonObject(entry)) return fail(`header entry is ${describeJsonType(entry)}, expected {"dtype", "shape", "data_offsets"}`);
  const { dtype, shape, data_offsets: offsets } = entry;
  if (!isSafetensorsDType(dtype)) {
    return fail(`unknown dtype ${preview(dtype)} (known: ${SAFETENSORS_DTYPES.join(', ')})`);
  }
  if (!Array.isArray(shape)) return fail(`shape is ${describeJsonType(shape)}, expected an array of non-negative integers`);
  const dims: number[] = [];
  let numel = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) return fail(`shape ${preview(shape)} has a dimension that is not a non-negative integer`);
    dims.push(d);
    // Stop multiplying once the size exceeds anything the file could hold, so huge shapes cannot overflow.
    if (numel <= dataBytes + 1) numel *= d;
  }
  if (dims.includes(0)) numel = 0;
  if (!Array.isArray(offsets) || offsets.length !== 2) return fail(`data_offsets is ${describeJsonType(offsets)}, expected [BEGIN, END]`);
  const [b, e] = offsets as unknown[];
  if (typeof b !== 'number' || typeof e !== 'number' || !Number.isSafeInteger(b) || !Number.isSafeInteger(e) || b < 0 || e < 0) {
    return fail(`data_offsets ${preview(offsets)} are not non-negative integers`);
  }
  if (e < b) return fail(`data_offsets [${b}, ${e}] are out of order (END before BEGIN)`);
  const want = numel * dtypeSize(dtype);
  if (e - b !== want) {
    const wantText = numel > dataBytes ? `more than the ${dataBytes} data bytes in the file` : `${want} bytes`;
    return fail(`data_offsets [${b}, ${e}] span ${e - b} bytes but ${dtype} [${dims.join(', ')}] needs ${wantText}`);
  }
  if (e > dataBytes) return fail(`data_offsets [${b}, ${e}] run past the end of the data buffer (${dataBytes} bytes; file truncated?)`);
  return { name, dtype, shape: dims, dataOffsets: [b, e], byteOffset: dataStart + b, byteLength: e - b, numel, file };
}

function describeJsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v} (${preview(v)})`;
}
