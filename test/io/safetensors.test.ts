import { describe, it, expect } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError } from '../../src/io/errors.js';
import { MemoryFolder } from '../../src/io/folder.js';
import { MemorySource, BlobSource } from '../../src/io/source.js';
import { openSafetensors } from '../../src/io/safetensors/reader.js';
import { openSafetensorsFolder } from '../../src/io/safetensors/store.js';
import { SAFETENSORS_DTYPES, type SafetensorsDType, dtypeSize } from '../../src/io/safetensors/dtype.js';
import { type TensorEntry, buildSafetensorsHeader, canonicalOrder, planShards, writeSafetensorsCheckpoint } from '../../src/io/safetensors/writer.js';
import { openSafetensorsFile } from '../../src/io/node/index.js';
import { rng, freshSeed } from '../helpers/random.js';
import { rawSafetensors, safetensorsBytes, stories260K } from './helpers.js';

function randomBytes(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256);
  return out;
}

async function expectCheckpointError(p: Promise<unknown>, ...parts: string[]): Promise<CheckpointError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a CheckpointError').toBeInstanceOf(CheckpointError);
  for (const part of parts) expect((err as Error).message).toContain(part);
  return err as CheckpointError;
}

const open = (bytes: Uint8Array, name = 'bad.safetensors') => openSafetensors(new MemorySource(bytes, name));

describe('safetensors reader on stories260K', () => {
  it.skipIf(!stories260K)('lists its 48 F32 tensors and reads them lazily', async () => {
    const file = await openSafetensorsFile(join(stories260K as string, 'model.safetensors'));
    try {
      expect(file.tensors.length).toBe(48);
      expect(file.metadata).toEqual({ format: 'pt' });
      const emb = file.info('model.embed_tokens.weight');
      expect(emb.dtype).toBe('F32');
      expect(emb.shape).toEqual([512, 64]);
      expect(file.info('model.layers.0.mlp.down_proj.weight').shape).toEqual([64, 172]);
      const all = await readFile(join(stories260K as string, 'model.safetensors'));
      for (const t of file.tensors) {
        const got = await file.readTensor(t.name);
        expect(Buffer.compare(Buffer.from(got), all.subarray(t.byteOffset, t.byteOffset + t.byteLength))).toBe(0);
      }
      const w = await file.readF32('model.norm.weight');
      expect(w.length).toBe(64);
      expect(w.every((x) => Number.isFinite(x) && x !== 0)).toBe(true);
      const rows = await file.readRange('model.embed_tokens.weight', 64 * 4 * 3, 64 * 4);
      expect(Buffer.compare(Buffer.from(rows), all.subarray(emb.byteOffset + 768, emb.byteOffset + 1024))).toBe(0);
    } finally {
      await file.close();
    }
  });

  it.skipIf(!stories260K)('the writer reproduces model.safetensors byte for byte', async () => {
    const bytes = new Uint8Array(await readFile(join(stories260K as string, 'model.safetensors')));
    const file = await open(bytes, 'stories');
    const entries: TensorEntry[] = file.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: () => file.readTensor(t.name) }));
    const again = await safetensorsBytes(entries.reverse());
    expect(Buffer.compare(Buffer.from(again), Buffer.from(bytes))).toBe(0);
  });
});

describe('safetensors writer layout', () => {
  it('matches the Rust reference serialisation vectors', async () => {
    const data = new Float32Array([0, 1, 2, 3, 4, 5]);
    const a = await safetensorsBytes([{ name: 'attn.0', dtype: 'F32', shape: [1, 2, 3], data }], { metadata: null });
    // safetensors tensor.rs test_serialization (header of 64 bytes, padded with spaces by the current writer)
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(new TextDecoder().decode(a.subarray(8, 8 + header.length))).toBe(header);
    expect(Number(new DataView(a.buffer).getBigUint64(0, true))).toBe(64);
    expect([...a.subarray(8 + 64)]).toEqual([...new Uint8Array(data.buffer)]);
    const empty = await safetensorsBytes([], { metadata: { framework: 'pt' } });
    expect([...empty]).toEqual([40, 0, 0, 0, 0, 0, 0, 0, ...new TextEncoder().encode('{"__metadata__":{"framework":"pt"}}     ')]);
    const b = await safetensorsBytes([{ name: 'attn0', dtype: 'F32', shape: [1, 1, 2, 3], data }], { metadata: null });
    expect(Number(new DataView(b.buffer).getBigUint64(0, true))).toBe(72);
  });

  it('orders by descending dtype alignment, then name, and aligns every tensor to 8 bytes', () => {
    const entries = [
      { name: 'b', dtype: 'I8', shape: [3] },
      { name: 'a', dtype: 'I8', shape: [5] },
      { name: 'z', dtype: 'I64', shape: [2] },
      { name: 'm', dtype: 'BF16', shape: [3] },
      { name: 'k', dtype: 'F32', shape: [1] },
    ] as const;
    const ordered = canonicalOrder(entries);
    expect(ordered.map((e) => e.name)).toEqual(['z', 'k', 'm', 'a', 'b']);
    const header = buildSafetensorsHeader(ordered, { format: 'pt' });
    expect(header.byteLength % 8).toBe(0);
    expect(new TextDecoder().decode(header)).toMatch(/^\{"__metadata__":\{"format":"pt"\},"z":\{"dtype":"I64","shape":\[2\],"data_offsets":\[0,16\]\},"k"/);
  });

  it('round-trips every dtype, scalars and empty tensors with identical keys, dtypes, shapes and bytes', async () => {
    const seed = freshSeed();
    const entries: TensorEntry[] = [];
    const shapes = [[], [0, 3], [7], [3, 5], [2, 3, 4]];
    let k = 0;
    for (const dtype of SAFETENSORS_DTYPES) {
      for (const shape of shapes) {
        const n = shape.reduce((a, b) => a * b, 1) * dtypeSize(dtype);
        entries.push({ name: `t.${dtype}.${shape.join('x') || 'scalar'}`, dtype, shape, data: randomBytes(n, seed + k++) });
      }
    }
    const bytes = await safetensorsBytes(entries);
    const file = await open(bytes, `seed ${seed}`);
    expect(file.tensors.map((t) => t.name).sort()).toEqual(entries.map((e) => e.name).sort());
    for (const e of entries) {
      const info = file.info(e.name);
      expect(info.dtype).toBe(e.dtype);
      expect(info.shape).toEqual(e.shape);
      expect(info.byteOffset % 8 === 0 || info.byteLength === 0 || dtypeSize(e.dtype) < 8).toBe(true);
      expect([...(await file.readTensor(e.name))]).toEqual([...(e.data as Uint8Array)]);
    }
    const typed = await file.readTyped('t.I64.3x5');
    expect(typed.data).toBeInstanceOf(BigInt64Array);
    expect((await file.readTyped('t.BF16.7')).data).toBeInstanceOf(Uint16Array);
  });

  it('reads through a Blob source like a browser File', async () => {
    const bytes = await safetensorsBytes([{ name: 'w', dtype: 'F16', shape: [2, 2], data: new Uint16Array([0x3c00, 0xc000, 0x3800, 0x0001]) }]);
    const file = await openSafetensors(new BlobSource(new Blob([bytes as Uint8Array<ArrayBuffer>]), 'w.safetensors'));
    expect([...(await file.readF32('w'))]).toEqual([1, -2, 0.5, 2 ** -24]);
  });

  it('streams data supplied as async chunks and rejects a wrong byte count naming the tensor', async () => {
    async function* chunks() {
      yield new Uint8Array([1, 2]);
      yield new Uint8Array([3, 4]);
    }
    const ok = await safetensorsBytes([{ name: 's', dtype: 'U8', shape: [4], data: () => chunks() }]);
    expect([...(await (await open(ok)).readTensor('s'))]).toEqual([1, 2, 3, 4]);
    await expectCheckpointError(safetensorsBytes([{ name: 'short', dtype: 'F32', shape: [2], data: new Float32Array(3) }]), 'short', '12 bytes', 'needs 8');
    await expectCheckpointError(safetensorsBytes([{ name: 'x', dtype: 'U8', shape: [1], data: new Uint8Array(1) }, { name: 'x', dtype: 'U8', shape: [1], data: new Uint8Array(1) }]), 'two tensors');
  });
});

describe('sharded checkpoints', () => {
  const entries = (): TensorEntry[] => {
    const out: TensorEntry[] = [];
    for (let l = 0; l < 12; l++) out.push({ name: `model.layers.${l}.w`, dtype: 'F32', shape: [16, 4], data: new Float32Array(64).fill(l) });
    out.push({ name: 'model.norm.weight', dtype: 'BF16', shape: [4], data: new Uint16Array(4).fill(0x3f80) });
    return out;
  };

  it('splits above maxShardBytes, writes the index, and reads back every tensor', async () => {
    const out = new MemoryFolder('out');
    const written = await writeSafetensorsCheckpoint(out, entries(), { maxShardBytes: 300 });
    expect(written.sharded).toBe(true);
    expect(written.files.length).toBe(12);
    expect(written.files[0]).toBe('model-00001-of-00012.safetensors');
    const index = JSON.parse(out.text('model.safetensors.index.json'));
    expect(index.metadata.total_size).toBe(12 * 256 + 8);
    expect(Object.keys(index.weight_map).length).toBe(13);
    // natural order keeps layer 2 before layer 10
    expect(written.weightMap.get('model.layers.2.w')! < written.weightMap.get('model.layers.10.w')!).toBe(true);
    const store = await openSafetensorsFolder(out);
    expect(store.tensors.length).toBe(13);
    expect(store.problems).toEqual([]);
    expect([...(await store.readF32('model.layers.7.w'))].every((x) => x === 7)).toBe(true);
    expect([...(await store.readF32('model.norm.weight'))]).toEqual([1, 1, 1, 1]);
  });

  it('writes a single model.safetensors when everything fits', async () => {
    const out = new MemoryFolder('out');
    const written = await writeSafetensorsCheckpoint(out, entries());
    expect(written.files).toEqual(['model.safetensors']);
    expect(await out.exists('model.safetensors.index.json')).toBe(false);
    expect(planShards(entries(), 600).length).toBe(6);
  });

  it('names a missing shard and a tensor the index misplaces', async () => {
    const out = new MemoryFolder('ckpt');
    await writeSafetensorsCheckpoint(out, entries(), { maxShardBytes: 300 });
    out.files.delete('model-00003-of-00012.safetensors');
    await expectCheckpointError(openSafetensorsFolder(out), 'model.safetensors.index.json', 'model-00003-of-00012.safetensors', 'not in ckpt');
    const out2 = new MemoryFolder('ckpt2');
    await writeSafetensorsCheckpoint(out2, entries(), { maxShardBytes: 300 });
    const idx = JSON.parse(out2.text('model.safetensors.index.json'));
    idx.weight_map['model.layers.0.w'] = 'model-00002-of-00012.safetensors';
    out2.files.set('model.safetensors.index.json', new TextEncoder().encode(JSON.stringify(idx)));
    await expectCheckpointError(openSafetensorsFolder(out2), 'model.layers.0.w', 'no such tensor');
    idx.weight_map['model.layers.0.w'] = '../../etc/passwd';
    out2.files.set('model.safetensors.index.json', new TextEncoder().encode(JSON.stringify(idx)));
    await expectCheckpointError(openSafetensorsFolder(out2), 'not a plain file name');
    out2.files.set('model.safetensors.index.json', new TextEncoder().encode('{"weight_map": '));
    await expectCheckpointError(openSafetensorsFolder(out2), 'model.safetensors.index.json', 'not valid JSON');
  });

  it('reports tensors a shard holds but the index omits', async () => {
    const out = new MemoryFolder('ckpt');
    await writeSafetensorsCheckpoint(out, entries(), { maxShardBytes: 300 });
    const idx = JSON.parse(out.text('model.safetensors.index.json'));
    delete idx.weight_map['model.norm.weight'];
    out.files.set('model.safetensors.index.json', new TextEncoder().encode(JSON.stringify(idx)));
    const store = await openSafetensorsFolder(out);
    expect(store.has('model.norm.weight')).toBe(false);
    expect(store.problems.join('\n')).toContain('"model.norm.weight" is not listed');
  });
});

describe('safetensors reader rejects bad input with clear errors', () => {
  const good = () => safetensorsBytes([
    { name: 'a', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) },
    { name: 'b', dtype: 'I8', shape: [3], data: new Int8Array([1, 2, 3]) },
  ]);
  const d8 = new Uint8Array(8);

  it('truncated file', async () => {
    const g = await good();
    await expectCheckpointError(open(g.subarray(0, g.length - 1)), 'bad.safetensors', 'tensor "b"', 'truncated');
    await expectCheckpointError(open(g.subarray(0, 5)), 'bad.safetensors', 'too short');
    await expectCheckpointError(open(g.subarray(0, 20)), 'header length', 'runs past the end');
  });
  it('header length beyond the file or the 100 MB limit', async () => {
    await expectCheckpointError(open(rawSafetensors('{}', undefined, 4096)), 'header length 4096 runs past');
    const huge = rawSafetensors('{}');
    new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
    await expectCheckpointError(open(huge), 'exceeds the 100000000-byte limit');
  });
  it('header not JSON, not an object, not UTF-8, not starting with {', async () => {
    await expectCheckpointError(open(rawSafetensors('{"a": ')), 'not valid JSON');
    await expectCheckpointError(open(rawSafetensors('[1, 2]')), "does not start with '{'");
    const bin = rawSafetensors('{"\xff":1}');
    bin[10] = 0xff;
    await expectCheckpointError(open(bin), 'not valid UTF-8');
    await expectCheckpointError(open(rawSafetensors('{"a": 1}')), 'tensor "a"', 'header entry is a number');
  });
  it('duplicate keys', async () => {
    await expectCheckpointError(open(rawSafetensors('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', new Uint8Array(1))), 'key "a" twice');
    await expectCheckpointError(open(rawSafetensors('{"__metadata__":{"x":"1","x":"2"}}')), 'key "x" twice in "__metadata__"');
  });
  it('non-string metadata', async () => {
    await expectCheckpointError(open(rawSafetensors('{"__metadata__":{"format":1}}')), '__metadata__', '"format" is a number');
    await expectCheckpointError(open(rawSafetensors('{"__metadata__":[1]}')), '__metadata__ must be an object');
  });
  it('unknown dtype', async () => {
    await expectCheckpointError(open(rawSafetensors('{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}', new Uint8Array(1))), 'tensor "w"', 'unknown dtype "Q4"');
  });
  it('size not matching dtype × shape', async () => {
    await expectCheckpointError(open(rawSafetensors('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', d8)), 'tensor "w"', 'span 8 bytes but F32 [3] needs 12 bytes');
    await expectCheckpointError(open(rawSafetensors('{"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}', d8)), 'tensor "w"', 'more than the 8 data bytes');
    await expectCheckpointError(open(rawSafetensors('{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}', d8)), 'not a non-negative integer');
    await expectCheckpointError(open(rawSafetensors('{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}', d8)), 'not a non-negative integer');
  });
  it('overlapping, out-of-order and gapped offsets', async () => {
    const t = (name: string, b: number, e: number) => `"${name}":{"dtype":"U8","shape":[${e - b}],"data_offsets":[${b},${e}]}`;
    await expectCheckpointError(open(rawSafetensors(`{${t('x', 0, 6)},${t('y', 4, 8)}}`, d8)), 'tensor "y"', 'overlap tensor "x"');
    await expectCheckpointError(open(rawSafetensors(`{${t('x', 0, 2)},${t('y', 4, 8)}}`, d8)), 'tensor "y"', '2-byte gap after tensor "x"');
    await expectCheckpointError(open(rawSafetensors(`{${t('y', 2, 8)}}`, d8)), 'tensor "y"', 'gap after the start');
    await expectCheckpointError(open(rawSafetensors('{"r":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}}', d8)), 'tensor "r"', 'out of order');
    await expectCheckpointError(open(rawSafetensors(`{${t('x', 0, 4)}}`, d8)), '4 trailing bytes');
    // keys listed out of offset order are fine, as in the Rust reader
    const f = await open(rawSafetensors(`{${t('y', 4, 8)},${t('x', 0, 4)}}`, d8));
    expect(f.header.tensors.map((x) => x.name)).toEqual(['x', 'y']);
  });
  it('a tensor name that is not in the file', async () => {
    const f = await open(await good(), 'ok.safetensors');
    await expectCheckpointError(f.readTensor('nope'), 'ok.safetensors', 'tensor "nope"', 'no such tensor');
    await expectCheckpointError(f.readRange('a', 4, 8), 'tensor "a"', 'outside');
  });
  it('a folder without weights', async () => {
    await expectCheckpointError(openSafetensorsFolder(new MemoryFolder('empty', { 'config.json': '{}' })), 'empty', 'no model.safetensors');
  });
});

describe('dtype sizes', () => {
  it('are the safetensors bit widths', () => {
    const want: Record<SafetensorsDType, number> = { BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8 };
    for (const d of SAFETENSORS_DTYPES) expect(dtypeSize(d)).toBe(want[d]);
  });
});
