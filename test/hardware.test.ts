import { describe, it, expect } from 'vitest';
import { acquireHardware } from '../src/gpu/node/acquire.js';
import { GpuError } from '../src/gpu/hardware.js';
import { Tensor } from '../src/gpu/tensor.js';
import { foldWorkgroups } from '../src/gpu/dispatch.js';
import { preprocessWgsl } from '../src/gpu/preprocess.js';
import { castToF32 } from '../src/gpu/kernels/elementwise.js';
import { rng } from './helpers/random.js';

describe('Hardware', () => {
  it('requests the adapter maximum for the limits the engine needs and reports features', async () => {
    const hw = await acquireHardware();
    try {
      expect(hw.limits.maxStorageBufferBindingSize).toBe(hw.adapter.limits.maxStorageBufferBindingSize);
      expect(hw.limits.maxComputeWorkgroupStorageSize).toBe(hw.adapter.limits.maxComputeWorkgroupStorageSize);
      expect(hw.caps.subgroups).toBe(hw.adapter.features.has('subgroups'));
      const d = hw.describe();
      expect(d.adapter.description.length).toBeGreaterThan(0);
      expect(d.limits.maxBufferSize).toBeGreaterThan(0);
    } finally {
      await hw.destroy();
    }
  });

  it('can leave optional features off to exercise fallbacks', async () => {
    const hw = await acquireHardware({ disableFeatures: ['subgroups', 'shader-f16'] });
    try {
      expect(hw.caps.subgroups).toBe(false);
      expect(hw.caps.f16).toBe(false);
      expect(hw.kernels.source('reduce')).not.toContain('enable subgroups');
    } finally {
      await hw.destroy();
    }
  });

  it('names the adapter it could not find', async () => {
    await expect(acquireHardware({ adapter: 'no-such-gpu-xyz' })).rejects.toThrow(/no-such-gpu-xyz/);
  });

  it('turns device loss into a clear error at the next synchronisation point', async () => {
    const hw = await acquireHardware();
    const t = Tensor.fromData(hw, new Float32Array([1, 2, 3, 4]), [4], 'f32');
    // Destroying the device behind the engine's back is how a loss looks to it.
    hw.device.destroy();
    await new Promise((r) => setTimeout(r, 50));
    await expect(t.readF32()).rejects.toThrow(GpuError);
    await expect(hw.sync()).rejects.toThrow(/device lost/);
    await hw.destroy();
    await hw.destroy(); // idempotent
    expect(() => hw.checkAlive()).toThrow(/destroyed/);
  });

  it('rejects use after dispose and wrong-size writes', async () => {
    const hw = await acquireHardware();
    try {
      const t = Tensor.empty(hw, [3, 5], 'f32');
      expect(() => t.write(new Float32Array(14))).toThrow(/56 bytes into tensor \[3, 5\] f32 of 60 bytes/);
      t.dispose();
      expect(() => t.buffer).toThrow(/after dispose/);
    } finally {
      await hw.destroy();
    }
  });

  it('casts a tensor larger than maxStorageBufferBindingSize (real limit, not a test override)', async () => {
    const hw = await acquireHardware();
    try {
      const max = hw.caps.maxStorageBufferBindingSize;
      const cols = 8192;
      const rows = Math.floor(max / (cols * 2)) + 8; // just over one binding of f16
      const n = rows * cols;
      if (n * 4 > 1.5 * 2 ** 30) return; // adapters with huge bindings: nothing to split here
      const r = rng(7);
      const h = new Uint16Array(n);
      for (let i = 0; i < n; i += 97) h[i] = Math.floor(r() * 0x7bff);
      const t = Tensor.fromData(hw, h, [rows, cols], 'f16');
      expect(t.chunks.length).toBe(2);
      const out = castToF32(hw, t);
      expect(out.chunks.length).toBeGreaterThanOrEqual(3);
      const got = await out.readF32();
      let bad = 0;
      for (let i = 0; i < n; i++) {
        const v = h[i];
        const e = (v >> 10) & 0x1f;
        const want = e === 0 ? (v & 0x3ff) * 2 ** -24 : (1 + (v & 0x3ff) / 1024) * 2 ** (e - 15);
        if (got[i] !== want) bad++;
      }
      expect(bad).toBe(0);
      t.dispose();
      out.dispose();
    } finally {
      await hw.destroy();
    }
  });
});

describe('foldWorkgroups', () => {
  it('keeps every dimension within the limit and covers the count', () => {
    for (const n of [0, 1, 65535, 65536, 65537, 4096 * 16, 2 ** 31, 65535 * 65535 + 1]) {
      const [x, y, z] = foldWorkgroups(n);
      expect(Math.max(x, y, z)).toBeLessThanOrEqual(65535);
      expect(x * y * z).toBeGreaterThanOrEqual(n);
      // No more than one partial row of waste per fold level.
      expect(x * y * z - n).toBeLessThan(x * y + x + 1);
    }
  });
});

describe('preprocessWgsl', () => {
  it('selects branches and keeps line numbers', () => {
    const src = 'a\n#if X\nb\n#else\nc\n#endif\n#if !X\nd\n#endif\ne';
    expect(preprocessWgsl(src, { X: true })).toBe('a\n\nb\n\n\n\n\n\n\ne');
    expect(preprocessWgsl(src, { X: false })).toBe('a\n\n\n\nc\n\n\nd\n\ne');
  });
  it('reports unbalanced or unknown directives with file and line', () => {
    expect(() => preprocessWgsl('#if X\n', { X: true }, 'f.wgsl')).toThrow(/f.wgsl:1: #if without #endif/);
    expect(() => preprocessWgsl('#endif', {}, 'f.wgsl')).toThrow(/f.wgsl:1: #endif without #if/);
    expect(() => preprocessWgsl('#if Y\n#endif', {}, 'f.wgsl')).toThrow(/flag Y is not defined/);
  });
});
