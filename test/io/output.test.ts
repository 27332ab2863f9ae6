import { describe, it, expect, afterAll } from 'vitest';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError } from '../../src/io/errors.js';
import type { ByteSink } from '../../src/io/folder.js';
import { NodeOutputFolder, writeOutputFolder } from '../../src/io/node/output.js';
import { writeCompressedCheckpoint } from '../../src/io/compressed/writer.js';
import type { TensorEntry } from '../../src/io/safetensors/writer.js';
import { openSafetensorsDir } from '../../src/io/node/index.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function scratch(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'wgc-out-'));
  dirs.push(d);
  return d;
}

const CONFIG = { architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 8, num_attention_heads: 2, num_hidden_layers: 1, vocab_size: 4, torch_dtype: 'float32' };
const entries = (fill: number): TensorEntry[] => Array.from({ length: 6 }, (_, k) => ({ name: `t.${k}`, dtype: 'F32', shape: [1024], data: new Float32Array(1024).fill(fill) }));

/** A sink that fails like a full disk once `limit` bytes have gone through. */
function diskFullAfter(limit: number): (sink: ByteSink) => ByteSink {
  let written = 0;
  return (sink) => ({
    write: async (chunk) => {
      written += chunk.byteLength;
      if (written > limit) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      await sink.write(chunk);
    },
    close: () => sink.close(),
    abort: () => sink.abort?.() ?? Promise.resolve(),
  });
}

async function write(target: string, options: Parameters<typeof writeOutputFolder>[1], fill = 1, maxShardBytes?: number) {
  return writeOutputFolder(target, options, (out) => writeCompressedCheckpoint(out, { config: CONFIG, quantization: null, layers: [], dense: entries(fill), maxShardBytes }));
}

describe('output safety', () => {
  it('writes into a temporary folder and renames it into place', async () => {
    const dir = await scratch();
    const target = join(dir, 'out');
    await write(target, {});
    expect(await readdir(dir)).toEqual(['out']);
    expect((await readdir(target)).sort()).toEqual(['config.json', 'model.safetensors']);
    const store = await openSafetensorsDir(target);
    expect([...(await store.readF32('t.3'))].every((x) => x === 1)).toBe(true);
    await store.close();
  });

  it('refuses an existing non-empty folder unless overwrite, and accepts an empty one', async () => {
    const dir = await scratch();
    const target = join(dir, 'out');
    await mkdir(target);
    await write(target, {}); // empty: fine
    let err: unknown;
    try {
      await write(target, {}, 2);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toContain('--overwrite');
    const store = await openSafetensorsDir(target);
    expect((await store.readF32('t.0'))[0]).toBe(1); // untouched
    await store.close();
    await writeFile(join(target, 'stale.txt'), 'old');
    await write(target, { overwrite: true }, 3);
    expect((await readdir(target)).sort()).toEqual(['config.json', 'model.safetensors']); // old files gone
    const again = await openSafetensorsDir(target);
    expect((await again.readF32('t.0'))[0]).toBe(3);
    await again.close();
    expect(await readdir(dir)).toEqual(['out']);
  });

  it('a path that is a file is refused', async () => {
    const dir = await scratch();
    await writeFile(join(dir, 'file'), 'x');
    await expect(NodeOutputFolder.create(join(dir, 'file'))).rejects.toThrow(/not a folder/);
  });

  it('a write failure (disk full) leaves nothing at a new target', async () => {
    const dir = await scratch();
    const target = join(dir, 'out');
    let err: unknown;
    try {
      await write(target, { wrapSink: diskFullAfter(10_000) }, 1, 9000);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toMatch(/ENOSPC/);
    expect(await readdir(dir)).toEqual([]); // neither the target nor a temporary folder
  });

  it('a write failure with overwrite leaves the old checkpoint intact', async () => {
    const dir = await scratch();
    const target = join(dir, 'out');
    await write(target, {}, 5);
    const before = await readFile(join(target, 'model.safetensors'));
    await expect(write(target, { overwrite: true, wrapSink: diskFullAfter(20_000) }, 6)).rejects.toBeInstanceOf(CheckpointError);
    expect((await readFile(join(target, 'model.safetensors'))).equals(before)).toBe(true);
    expect(await readdir(dir)).toEqual(['out']);
  });

  it('an error thrown by the producer (not the disk) also aborts', async () => {
    const dir = await scratch();
    const target = join(dir, 'out');
    const bad: TensorEntry[] = [{ name: 'x', dtype: 'F32', shape: [4], data: () => Promise.reject(new Error('GPU lost')) }];
    await expect(writeOutputFolder(target, {}, (out) => writeCompressedCheckpoint(out, { config: CONFIG, quantization: null, layers: [], dense: bad }))).rejects.toThrow(/GPU lost/);
    expect(await readdir(dir)).toEqual([]);
  });
});
