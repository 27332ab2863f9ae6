import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed, randn } from '../helpers/random.js';
import { makeQuantizationArgs, type QuantizationArgsInput } from '../../src/quantization/args.js';
import { presetScheme } from '../../src/quantization/presets.js';
import { type ComputeDtype } from '../../src/quantization/numerics.js';
import { edgyWeight, expectSame, runBoth } from './helpers.js';

const hardware = useHardware();

interface Case {
  name: string;
  args: QuantizationArgsInput | string;
  rows: number;
  cols: number;
  groupCols: number;
  dtypes?: ComputeDtype[];
  layout?: 'int32' | 'bytes';
}

const presetWeights = (name: string): QuantizationArgsInput | string => name;

/** Every data-free preset's weights, plus explicit args that exercise the other kernel paths. */
const CASES: Case[] = [
  ...['W2A16', 'W3A16', 'W4A16', 'W5A16', 'W6A16', 'W7A16', 'W8A16', 'W4A16_ASYM'].map((n) => ({ name: n, args: presetWeights(n), rows: 21, cols: 384, groupCols: 128 })),
  { name: 'W8A8 (channel)', args: 'W8A8', rows: 33, cols: 172, groupCols: 172, layout: 'bytes' },
  { name: 'W4A8 (int-quantized bytes)', args: 'W4A8', rows: 9, cols: 256, groupCols: 128, layout: 'bytes' },
  { name: 'FP8_DYNAMIC (channel)', args: 'FP8_DYNAMIC', rows: 19, cols: 100, groupCols: 100 },
  { name: 'FP8 (tensor)', args: 'FP8', rows: 23, cols: 96, groupCols: 96 },
  { name: 'FP8_BLOCK (partial blocks)', args: 'FP8_BLOCK', rows: 150, cols: 300, groupCols: 128 },
  { name: 'NVFP4A16', args: 'NVFP4A16', rows: 17, cols: 80, groupCols: 16 },
  { name: 'MXFP4A16', args: 'MXFP4A16', rows: 15, cols: 96, groupCols: 32 },
  { name: 'MXFP8A16', args: 'MXFP8A16', rows: 15, cols: 64, groupCols: 32 },
  { name: 'int4 channel asym, odd width (scalar loads)', args: { numBits: 4, strategy: 'channel', symmetric: false }, rows: 13, cols: 173, groupCols: 173 },
  { name: 'int8 tensor asym', args: { numBits: 8, strategy: 'tensor', symmetric: false }, rows: 11, cols: 70, groupCols: 70 },
  { name: 'int3 group 64 asym', args: { numBits: 3, strategy: 'group', groupSize: 64, symmetric: false }, rows: 10, cols: 192, groupCols: 64 },
  { name: 'int5 group 48 (stats path)', args: { numBits: 5, strategy: 'group', groupSize: 48 }, rows: 7, cols: 144, groupCols: 48 },
  { name: 'int8 block 16x64', args: { numBits: 8, strategy: 'block', blockStructure: [16, 64] }, rows: 40, cols: 150, groupCols: 64 },
  { name: 'int4 group 8 asym (in-thread groups)', args: { numBits: 4, strategy: 'group', groupSize: 8, symmetric: false }, rows: 6, cols: 40, groupCols: 8 },
  { name: 'FP4 tensor_group 32 (global scale, int32-free)', args: { numBits: 4, type: 'float', strategy: 'tensor_group', groupSize: 32 }, rows: 8, cols: 64, groupCols: 32 },
];

function argsOf(c: Case) {
  return typeof c.args === 'string' ? presetScheme(c.args).weights! : makeQuantizationArgs(c.args, c.name);
}

describe('quantize kernels equal the float64 reference of compressed-tensors', () => {
  for (const c of CASES) {
    for (const dtype of c.dtypes ?? (['f32', 'bf16'] as ComputeDtype[])) {
      it(`${c.name}, ${dtype}`, async () => {
        const hw = await hardware();
        const seed = freshSeed();
        const args = argsOf(c);
        const w = edgyWeight(c.rows, c.cols, seed, c.groupCols, dtype);
        await inErrorScope(hw, async () => {
          const { gpu, ref } = await runBoth(hw, w, c.rows, c.cols, args, { dtype, layout: c.layout });
          expectSame(`${c.name} ${dtype} seed ${seed}`, gpu, ref);
        });
      });
    }
  }

  it('f16 weights (W4A16_ASYM, FP8_DYNAMIC, MXFP4A16)', async () => {
    const hw = await hardware();
    for (const [name, cols, gc] of [['W4A16_ASYM', 256, 128], ['FP8_DYNAMIC', 96, 96], ['MXFP4A16', 64, 32]] as const) {
      const seed = freshSeed();
      const w = edgyWeight(12, cols, seed, gc, 'f16');
      await inErrorScope(hw, async () => {
        const { gpu, ref } = await runBoth(hw, w, 12, cols, presetScheme(name).weights!, { dtype: 'f16' });
        expectSame(`${name} f16 seed ${seed}`, gpu, ref);
      });
    }
  });

  it('workgroup-memory fallback equals the subgroup variant', async () => {
    const hw = await hardware();
    for (const name of ['W4A16', 'W8A8', 'FP8', 'NVFP4A16']) {
      const seed = freshSeed();
      const cols = name === 'NVFP4A16' ? 64 : 256;
      const w = edgyWeight(24, cols, seed, name === 'W4A16' ? 128 : cols);
      const args = presetScheme(name).weights!;
      await inErrorScope(hw, async () => {
        for (const subgroups of hw.caps.subgroups ? [false, true] : [false]) {
          const { gpu, ref } = await runBoth(hw, w, 24, cols, args, { subgroups });
          expectSame(`${name} subgroups=${subgroups} seed ${seed}`, gpu, ref);
        }
      });
    }
  });

  it('reciprocal scale division (torch on CUDA) matches the reference in that mode', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const w = edgyWeight(16, 256, seed, 128);
    for (const name of ['W4A16', 'W4A16_ASYM', 'FP8_DYNAMIC']) {
      await inErrorScope(hw, async () => {
        const { gpu, ref } = await runBoth(hw, w, 16, 256, presetScheme(name).weights!, { scaleDivision: 'reciprocal' });
        expectSame(`${name} reciprocal seed ${seed}`, gpu, ref);
      });
    }
  });

  it('an approximate hardware division (quotient off by up to ±2 ulp) still gives the exact codes', async () => {
    const hw = await hardware();
    for (const [name, rows, cols, gc] of [['W4A16', 16, 256, 128], ['W4A16_ASYM', 16, 256, 128], ['W8A8', 16, 172, 172], ['FP8_DYNAMIC', 16, 96, 96], ['NVFP4A16', 16, 64, 16], ['MXFP4A16', 16, 64, 32]] as const) {
      const seed = freshSeed();
      const w = edgyWeight(rows, cols, seed, gc);
      await inErrorScope(hw, async () => {
        const { gpu, ref } = await runBoth(hw, w, rows, cols, presetScheme(name).weights!, { simulateInexactDivision: true });
        expectSame(`${name} jittered division seed ${seed}`, gpu, ref);
      });
    }
  });

  it('weights larger than one binding are processed chunk by chunk', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    for (const [name, rows, cols, gc] of [['W4A16', 70, 256, 128], ['FP8_BLOCK', 300, 160, 128], ['FP8', 50, 96, 96], ['NVFP4A16', 40, 48, 16], ['W8A8', 45, 172, 172]] as const) {
      const w = edgyWeight(rows, cols, seed, gc);
      await inErrorScope(hw, async () => {
        // 8 KiB chunks: several weight chunks, block rows that straddle them.
        const { gpu, ref } = await runBoth(hw, w, rows, cols, presetScheme(name).weights!, { maxChunkBytes: 8192 });
        expectSame(`${name} chunked seed ${seed}`, gpu, ref);
      });
    }
  });

  it('fused NVFP4 global scale from a shared absmax', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const { observeGlobalStats } = await import('../../src/quantization/quantizeWeight.js');
    const { Tensor } = await import('../../src/gpu/tensor.js');
    const q = edgyWeight(16, 64, seed, 16);
    const k = randn(8 * 64, seed + 1, 0.3);
    await inErrorScope(hw, async () => {
      const tq = Tensor.fromData(hw, q, [16, 64], 'f32');
      const tk = Tensor.fromData(hw, k, [8, 64], 'f32');
      const stats = observeGlobalStats(hw, [tq, tk]);
      let absmax = 0;
      for (const x of [...q, ...k]) absmax = Math.max(absmax, Math.abs(x));
      const { gpu, ref } = await runBoth(hw, q, 16, 64, presetScheme('NVFP4A16').weights!, { globalStats: stats, fusedAbsMax: absmax });
      expectSame(`NVFP4 fused seed ${seed}`, gpu, ref);
      hw.pool.releaseAfterSubmit(stats);
      tq.dispose();
      tk.dispose();
    });
  });

  it('NaN or Inf in a weight is an error naming the tensor', async () => {
    const hw = await hardware();
    for (const bad of [NaN, Infinity, -Infinity]) {
      for (const name of ['W4A16', 'FP8', 'NVFP4A16', 'W8A8']) {
        const w = randn(8 * 128, freshSeed(), 0.1);
        w[5 * 128 + 77] = bad;
        await inErrorScope(hw, async () => {
          await expect(runBoth(hw, w, 8, 128, presetScheme(name).weights!, { name: 'model.layers.3.mlp.up_proj.weight' })).rejects.toThrow(
            /model\.layers\.3\.mlp\.up_proj\.weight: the weight contains NaN or Inf/,
          );
        });
      }
    }
  });
});
