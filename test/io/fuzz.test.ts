/**
 * Seeded mutation fuzzing of the checkpoint readers: valid files (plain,
 * compressed, sharded) are mutated at the byte, length and JSON level, then
 * opened and read completely. Every outcome must be success or a
 * CheckpointError — no other exception type, no hang (the suite has a time
 * limit), and no read larger than the input. Reproduce a failure with
 * WGC_FUZZ_SEED=<seed>; scale with WGC_FUZZ_CASES.
 */
import { describe, it, expect } from 'vitest';
import { CheckpointError } from '../../src/io/errors.js';
import { MemoryFolder } from '../../src/io/folder.js';
import { type ByteSource, MemorySource } from '../../src/io/source.js';
import { openSafetensors, type TensorStore } from '../../src/io/safetensors/reader.js';
import { openSafetensorsFolder } from '../../src/io/safetensors/store.js';
import { CompressedCheckpoint } from '../../src/io/compressed/reader.js';
import { inspectFolder } from '../../src/io/inspect.js';
import { writeCompressedCheckpoint, type QuantizedLayer } from '../../src/io/compressed/writer.js';
import { normalizeQuantizationArgs } from '../../src/io/compressed/args.js';
import { SAFETENSORS_DTYPES } from '../../src/io/safetensors/dtype.js';
import { rng } from '../helpers/random.js';
import { randn } from '../helpers/random.js';
import { safetensorsBytes } from './helpers.js';
import { quantizeRef } from './quantize-ref.js';

const SEED = Number(process.env.WGC_FUZZ_SEED ?? 20251129);
const CASES = Number(process.env.WGC_FUZZ_CASES ?? 2400);

/** A source that records the largest single read, to catch allocations the input does not warrant. */
class CountingSource implements ByteSource {
  maxRead = 0;
  private readonly inner: MemorySource;
  constructor(bytes: Uint8Array, readonly name: string) {
    this.inner = new MemorySource(bytes, name);
  }
  get size(): number {
    return this.inner.size;
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    this.maxRead = Math.max(this.maxRead, length);
    return this.inner.read(offset, length);
  }
}

async function readEverything(store: TensorStore): Promise<void> {
  for (const t of store.tensors) {
    await store.readTensor(t.name);
    await store.readF32(t.name);
    await store.readTyped(t.name);
  }
}

type Mutator = (bytes: Uint8Array, r: () => number) => Uint8Array;
const pick = <T>(r: () => number, a: readonly T[]): T => a[Math.floor(r() * a.length)];
const int = (r: () => number, n: number) => Math.floor(r() * n);

function headerOf(bytes: Uint8Array): { n: number; json: string; data: Uint8Array } {
  if (bytes.length < 8) return { n: 0, json: '', data: new Uint8Array(0) };
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return { n, json: new TextDecoder().decode(bytes.subarray(8, 8 + n)), data: bytes.subarray(8 + n) };
}

function withHeader(json: string, data: Uint8Array, pad = true): Uint8Array {
  const enc = new TextEncoder().encode(json);
  const n = pad ? Math.ceil(enc.byteLength / 8) * 8 : enc.byteLength;
  const out = new Uint8Array(8 + n + data.byteLength).fill(0x20, 8, 8 + n);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(enc, 8);
  out.set(data, 8 + n);
  return out;
}

const WEIRD_VALUES: unknown[] = [
  null, true, -1, 0, 1.5, 2 ** 53, 2 ** 64, -0, 1e308, 'F32', 'Q4', '', [], {}, [1, 2, 3], [-1], [0, 0], [2 ** 40, 2 ** 40, 2 ** 40], { a: 1 }, 'x'.repeat(300),
];

/** JSON-level mutations keep the file well-formed enough to reach the deeper checks. */
function mutateJson(bytes: Uint8Array, r: () => number): Uint8Array {
  try {
    return mutateJsonUnsafe(bytes, r);
  } catch {
    return bytes; // the mutator itself choked (deep nesting from an earlier step)
  }
}

function mutateJsonUnsafe(bytes: Uint8Array, r: () => number): Uint8Array {
  const { json, data } = headerOf(bytes);
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(json);
  } catch {
    return bytes;
  }
  const names = Object.keys(h).filter((k) => k !== '__metadata__');
  const name = names.length ? pick(r, names) : '__metadata__';
  const entry = h[name] as Record<string, unknown> | undefined;
  switch (int(r, 12)) {
    case 0:
      if (entry) entry.dtype = r() < 0.5 ? pick(r, SAFETENSORS_DTYPES) : pick(r, WEIRD_VALUES);
      break;
    case 1:
      if (entry && Array.isArray(entry.shape) && entry.shape.length) (entry.shape as unknown[])[int(r, entry.shape.length)] = r() < 0.5 ? int(r, 100) : pick(r, WEIRD_VALUES);
      else if (entry) entry.shape = pick(r, WEIRD_VALUES);
      break;
    case 2:
      if (entry && Array.isArray(entry.data_offsets)) (entry.data_offsets as unknown[])[int(r, 2)] = r() < 0.6 ? int(r, data.byteLength + 16) : pick(r, WEIRD_VALUES);
      break;
    case 3:
      if (entry) delete entry[pick(r, ['dtype', 'shape', 'data_offsets'])];
      break;
    case 4:
      h.__metadata__ = r() < 0.5 ? { format: pick(r, WEIRD_VALUES) } : pick(r, WEIRD_VALUES);
      break;
    case 5:
      h[name] = pick(r, WEIRD_VALUES);
      break;
    case 6: {
      // swap two tensors' offsets
      const other = h[pick(r, names)] as Record<string, unknown> | undefined;
      if (entry && other) [entry.data_offsets, other.data_offsets] = [other.data_offsets, entry.data_offsets];
      break;
    }
    case 7: {
      // textual duplicate key
      const text = JSON.stringify(h);
      const dup = `${JSON.stringify(name)}:${JSON.stringify(h[name] ?? null)}`;
      return withHeader(`{${dup},${text.slice(1)}`, data);
    }
    case 8: {
      // deep nesting, as a tensor entry or inside a field the reader quotes in its message
      const depth = 1 + int(r, 20000);
      const deep = `${'['.repeat(depth)}${']'.repeat(depth)}`;
      const at = pick(r, ['entry', 'dtype', 'shape', 'data_offsets', 'meta']);
      if (at === 'entry') return withHeader(`{"x":${deep}}`, data);
      if (at === 'meta') return withHeader(`{"__metadata__":{"k":${deep}}}`, data);
      return withHeader(`{"x":{"dtype":${at === 'dtype' ? deep : '"U8"'},"shape":${at === 'shape' ? deep : '[1]'},"data_offsets":${at === 'data_offsets' ? deep : '[0,1]'}}}`, data);
    }
    case 9:
      if (entry && Array.isArray(entry.shape)) entry.shape = [...(entry.shape as unknown[]), int(r, 4)];
      break;
    case 10:
      h[`extra.${int(r, 1000)}`] = { dtype: pick(r, SAFETENSORS_DTYPES), shape: [int(r, 9)], data_offsets: [int(r, data.byteLength + 4), int(r, data.byteLength + 4)] };
      break;
    default:
      break;
  }
  let text: string;
  try {
    text = JSON.stringify(h);
  } catch {
    return bytes; // an earlier mutation nested too deep to re-serialise
  }
  return withHeader(text, data, r() < 0.9);
}

const MUTATORS: Mutator[] = [
  // flip bytes anywhere, biased to the header
  (b, r) => {
    const out = b.slice();
    const { n } = headerOf(b);
    for (let k = 1 + int(r, 4); k > 0; k--) {
      const at = r() < 0.7 ? 8 + int(r, Math.max(1, Math.min(n, out.length - 8))) : int(r, out.length);
      if (at < out.length) out[at] = r() < 0.5 ? int(r, 256) : out[at] ^ (1 << int(r, 8));
    }
    return out;
  },
  (b, r) => b.slice(0, int(r, b.length)), // truncate
  (b, r) => {
    const out = new Uint8Array(b.length + 1 + int(r, 64));
    out.set(b);
    return out; // trailing bytes
  },
  (b, r) => {
    // header length field
    if (b.length < 8) return b;
    const out = b.slice();
    const { n } = headerOf(b);
    const choices = [0n, 1n, 7n, BigInt(n - 1), BigInt(n + 1), BigInt(n + 8), BigInt(b.length), 100_000_001n, 2n ** 63n, 2n ** 64n - 1n, BigInt(int(r, 1 << 20))];
    new DataView(out.buffer).setBigUint64(0, pick(r, choices) & (2n ** 64n - 1n), true);
    return out;
  },
  mutateJson,
  mutateJson,
  mutateJson,
];

async function baseFiles(): Promise<{ name: string; bytes: Uint8Array }[]> {
  const plain = await safetensorsBytes([
    { name: 'a.f32', dtype: 'F32', shape: [3, 2], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
    { name: 'b.bf16', dtype: 'BF16', shape: [4], data: new Uint16Array([0x3f80, 0x4000, 0xc000, 0]) },
    { name: 'c.i64', dtype: 'I64', shape: [2], data: new BigInt64Array([5n, -1n]) },
    { name: 'd.f8', dtype: 'F8_E4M3', shape: [5], data: new Uint8Array([0x38, 0x7e, 0x01, 0x80, 0x7f]) },
    { name: 'e.empty', dtype: 'F16', shape: [0, 4], data: new Uint8Array(0) },
    { name: 'f.scalar', dtype: 'F64', shape: [], data: new Float64Array([Math.PI]) },
    { name: 'g.bool', dtype: 'BOOL', shape: [3], data: new Uint8Array([0, 1, 1]) },
  ]);
  const tiny = await safetensorsBytes([{ name: 'x', dtype: 'U8', shape: [1], data: new Uint8Array([7]) }], { metadata: null });
  return [
    { name: 'plain.safetensors', bytes: plain },
    { name: 'tiny.safetensors', bytes: tiny },
  ];
}

/** A small compressed checkpoint (pack-quantized asym + NVFP4 + FP8) whose model.safetensors is mutated. */
async function compressedFolder(): Promise<MemoryFolder> {
  const pack = normalizeQuantizationArgs({ num_bits: 4, group_size: 8, symmetric: false, actorder: 'group' }, { file: 't', field: 'w' });
  const fp4 = normalizeQuantizationArgs({ num_bits: 4, type: 'float', strategy: 'tensor_group', group_size: 16 }, { file: 't', field: 'w' });
  const fp8 = normalizeQuantizationArgs({ num_bits: 8, type: 'float', strategy: 'block', block_structure: [4, 8] }, { file: 't', field: 'w' });
  const g = Int32Array.from({ length: 16 }, (_, k) => (k * 5) % 16 >> 3);
  const layers: QuantizedLayer[] = [
    { module: 'm.a', group: 'g0', ...quantizeRef(randn(8 * 16, 1), [8, 16], pack, g).layer },
    { module: 'm.b', group: 'g1', ...quantizeRef(randn(4 * 32, 2), [4, 32], fp4).layer },
    { module: 'm.c', group: 'g2', ...quantizeRef(randn(8 * 16, 3), [8, 16], fp8).layer },
  ];
  const out = new MemoryFolder('ckpt');
  await writeCompressedCheckpoint(out, {
    config: { architectures: ['X'], hidden_size: 16, num_attention_heads: 1, num_hidden_layers: 1, vocab_size: 4 },
    quantization: {
      config_groups: {
        g0: { targets: ['m.a'], weights: { num_bits: 4, group_size: 8, symmetric: false, actorder: 'group' } },
        g1: { targets: ['m.b'], weights: { num_bits: 4, type: 'float', strategy: 'tensor_group', group_size: 16 } },
        g2: { targets: ['m.c'], weights: { num_bits: 8, type: 'float', strategy: 'block', block_structure: [4, 8] } },
      },
    },
    layers,
    dense: [{ name: 'm.norm.weight', dtype: 'F32', shape: [16], data: new Float32Array(16) }],
  });
  return out;
}

function check(e: unknown, context: string): void {
  if (!(e instanceof CheckpointError)) {
    throw new Error(`${context}: threw ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)} instead of a CheckpointError`, { cause: e });
  }
  expect(e.message.length).toBeLessThan(2000);
}

describe(`reader fuzz (seed ${SEED}, ${CASES} cases)`, () => {
  it('single files: only clean CheckpointErrors, reads bounded by the input', async () => {
    const bases = await baseFiles();
    const r = rng(SEED);
    let failures = 0;
    let successes = 0;
    for (let c = 0; c < CASES; c++) {
      const base = pick(r, bases);
      let bytes = base.bytes;
      for (let k = 1 + int(r, 2); k > 0; k--) bytes = pick(r, MUTATORS)(bytes, r);
      const src = new CountingSource(bytes, `case-${c}.safetensors`);
      try {
        const f = await openSafetensors(src);
        await readEverything(f);
        for (const t of f.tensors) expect(t.byteOffset + t.byteLength).toBeLessThanOrEqual(bytes.length);
        successes++;
      } catch (e) {
        check(e, `seed ${SEED} case ${c}`);
        expect(e instanceof CheckpointError && e.message.includes(`case-${c}.safetensors`)).toBe(true);
        failures++;
      }
      expect(src.maxRead, `seed ${SEED} case ${c}`).toBeLessThanOrEqual(bytes.length);
    }
    expect(failures + successes).toBe(CASES);
    expect(failures).toBeGreaterThan(CASES / 2); // the mutators mostly break files
    expect(successes).toBeGreaterThan(0);
  });

  it('compressed checkpoints and shard indexes: dequantize and inspect fail cleanly', async () => {
    const good = await compressedFolder();
    const weights = good.files.get('model.safetensors') as Uint8Array;
    const config = good.files.get('config.json') as Uint8Array;
    const r = rng(SEED ^ 0x5eed);
    const n = Math.max(200, Math.floor(CASES / 4));
    let clean = 0;
    for (let c = 0; c < n; c++) {
      const folder = new MemoryFolder(`case-${c}`, { 'config.json': config, 'model.safetensors': weights });
      const which = int(r, 3);
      if (which === 0) folder.files.set('model.safetensors', pick(r, MUTATORS)(weights, r));
      else if (which === 1) {
        // mutate the quantization config: drop or change a field
        const cfg = JSON.parse(new TextDecoder().decode(config));
        const g = cfg.quantization_config.config_groups[pick(r, ['g0', 'g1', 'g2'])];
        const field = pick(r, ['num_bits', 'group_size', 'strategy', 'symmetric', 'type', 'actorder', 'block_structure']);
        g.weights[field] = pick(r, [...WEIRD_VALUES, 2, 3, 8, 16, 'group', 'channel', 'tensor_group', 'block', false]);
        if (r() < 0.2) g.format = pick(r, ['pack-quantized', 'naive-quantized', 'nvfp4-pack-quantized', 'bogus']);
        const patterns = ['re:(', 're:(a+)+$', 're:m\\..*', 'lm_head', 'm.a', 5, 'Linear', 're:(?P<x>m)'];
        if (r() < 0.2) cfg.quantization_config.ignore = [pick(r, patterns)];
        if (r() < 0.2) g.targets = r() < 0.8 ? [pick(r, patterns)] : pick(r, WEIRD_VALUES);
        if (r() < 0.1) cfg.quantization_config = pick(r, WEIRD_VALUES);
        if (r() < 0.1) cfg[pick(r, ['hidden_size', 'num_attention_heads', 'vocab_size', 'rope_scaling', 'architectures'])] = pick(r, WEIRD_VALUES);
        folder.files.set('config.json', new TextEncoder().encode(JSON.stringify(cfg)));
      } else {
        // a sharded layout with a mutated index
        const index = { metadata: { total_size: 1 }, weight_map: { 'm.a.weight_packed': 'model.safetensors', 'm.norm.weight': pick(r, ['model.safetensors', 'missing.safetensors', '../x', '', 'model.safetensors']) } };
        const text = r() < 0.3 ? JSON.stringify(index).slice(0, int(r, 60)) : JSON.stringify(index);
        folder.files.set('model.safetensors.index.json', new TextEncoder().encode(text));
      }
      try {
        const ckpt = await CompressedCheckpoint.open(folder);
        for (const name of ckpt.denseNames) {
          try {
            await ckpt.readDense(name);
          } catch (e) {
            check(e, `seed ${SEED} compressed case ${c} ${name}`);
          }
        }
        await inspectFolder(folder);
        clean++;
      } catch (e) {
        check(e, `seed ${SEED} compressed case ${c}`);
      }
    }
    expect(clean).toBeGreaterThan(0);
    // the unmutated checkpoint itself is clean
    const ok = await CompressedCheckpoint.open(good);
    expect(ok.problems).toEqual([]);
    const store = await openSafetensorsFolder(good);
    expect(store.tensors.length).toBeGreaterThan(8);
  });
});
