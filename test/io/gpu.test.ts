import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { rng, freshSeed } from '../helpers/random.js';
import { MemorySource } from '../../src/io/source.js';
import { openSafetensors } from '../../src/io/safetensors/reader.js';
import { loadTensor, loadTensorF32 } from '../../src/io/safetensors/gpu.js';
import { f16ToF32, bf16ToF32, fp8E4M3ToF32 } from '../../src/io/numeric/float.js';
import { fillWords } from '../../src/gpu/kernels/elementwise.js';
import { safetensorsBytes } from './helpers.js';
import { openFileSource } from '../../src/io/node/fileSource.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const hardware = useHardware();

function finiteHalves(n: number, seed: number, bf16: boolean): Uint16Array {
  const r = rng(seed);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    let h = Math.floor(r() * 0x10000);
    if (bf16 ? (h & 0x7f80) === 0x7f80 : (h & 0x7c00) === 0x7c00) h &= bf16 ? 0xbfff : 0xbbff; // keep finite
    out[i] = h;
  }
  return out;
}

describe('loading checkpoint tensors onto the GPU', () => {
  it('F16 and BF16 widen to f32 on the GPU exactly; F32 uploads as is; FP8 converts on the CPU', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const h = finiteHalves(3 * 257, seed, false);
    const b = finiteHalves(1000, seed + 1, true);
    const f = Float32Array.from({ length: 33 }, (_, i) => i * 0.25 - 3);
    const e = Uint8Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff).map((x) => ((x & 0x7f) === 0x7f ? 0x7e : x));
    const bytes = await safetensorsBytes([
      { name: 'h', dtype: 'F16', shape: [3, 257], data: h },
      { name: 'b', dtype: 'BF16', shape: [1000], data: b },
      { name: 'f', dtype: 'F32', shape: [33], data: f },
      { name: 'e', dtype: 'F8_E4M3', shape: [8, 8], data: e },
    ]);
    const file = await openSafetensors(new MemorySource(bytes, 'gpu.safetensors'));
    await inErrorScope(hw, async () => {
      const th = await loadTensorF32(hw, file, 'h');
      const tb = await loadTensorF32(hw, file, 'b');
      const tf = await loadTensorF32(hw, file, 'f');
      const te = await loadTensorF32(hw, file, 'e');
      expect(th.shape).toEqual([3, 257]);
      const gh = await th.readF32();
      for (let i = 0; i < h.length; i++) if (gh[i] !== f16ToF32(h[i])) throw new Error(`seed ${seed} F16[${i}] 0x${h[i].toString(16)} -> ${gh[i]}`);
      const gb = await tb.readF32();
      for (let i = 0; i < b.length; i++) if (gb[i] !== bf16ToF32(b[i])) throw new Error(`seed ${seed} BF16[${i}] -> ${gb[i]}`);
      expect([...(await tf.readF32())]).toEqual([...f]);
      expect([...(await te.readF32())]).toEqual([...e].map(fp8E4M3ToF32));
      const raw = await loadTensor(hw, file, 'h');
      expect(raw.dtype).toBe('f16');
      fillWords(hw, raw, 0); // the upload is a separate buffer from the widened copy
      expect((await th.readF32())[5]).toBe(f16ToF32(h[5]));
      for (const t of [th, tb, tf, te, raw]) t.dispose();
    });
  });

  it('tensors of 1 MiB and more are read from the file straight into upload staging, with the same values', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const dir = await mkdtemp(join(tmpdir(), 'wgc-staged-'));
    try {
      // 1 MiB and 3 MiB BF16 / F32 tensors (staged), and an odd-sized one that is not.
      const b = finiteHalves(512 * 1024, seed, true);
      const f = Float32Array.from({ length: 3 * 256 * 1024 }, (_, i) => Math.fround(Math.sin(i + seed) * 7));
      const odd = finiteHalves(512 * 1024 + 1, seed + 2, true);
      const path = join(dir, 'big.safetensors');
      await writeFile(path, await safetensorsBytes([
        { name: 'b', dtype: 'BF16', shape: [512, 1024], data: b },
        { name: 'f', dtype: 'F32', shape: [768, 1024], data: f },
        { name: 'odd', dtype: 'BF16', shape: [512 * 1024 + 1], data: odd },
      ]));
      const file = await openSafetensors(await openFileSource(path));
      try {
        await inErrorScope(hw, async () => {
          // Twice, so the second round reuses the staging buffers.
          for (let round = 0; round < 2; round++) {
            const tb = await loadTensorF32(hw, file, 'b');
            const tf = await loadTensorF32(hw, file, 'f');
            const to = await loadTensorF32(hw, file, 'odd');
            const gb = await tb.readF32();
            for (let i = 0; i < b.length; i++) if (gb[i] !== bf16ToF32(b[i])) throw new Error(`seed ${seed} round ${round} BF16[${i}] -> ${gb[i]}`);
            expect(Buffer.from((await tf.readF32()).buffer).equals(Buffer.from(f.buffer))).toBe(true);
            const go = await to.readF32();
            for (let i = 0; i < odd.length; i++) if (go[i] !== bf16ToF32(odd[i])) throw new Error(`seed ${seed} round ${round} odd[${i}] -> ${go[i]}`);
            for (const t of [tb, tf, to]) t.dispose();
          }
        });
      } finally {
        await file.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
