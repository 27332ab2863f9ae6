import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed, rng, randn } from '../helpers/random.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { fillWords } from '../../src/gpu/kernels/elementwise.js';
import { packColumns, packRows } from '../../src/quantization/kernels/pack.js';
import { referencePackInt32, referencePackBytes, referenceQuantize } from '../../src/quantization/reference.js';
import { makeQuantizationArgs } from '../../src/quantization/args.js';
import { presetScheme } from '../../src/quantization/presets.js';
import { castToFp4, fp4Code, f32Bits } from '../../src/quantization/numerics.js';
import { packInt32, packZeroPoints } from '../../src/io/compressed/pack.js';
import { compactBytes, decodeCodes, runBoth } from './helpers.js';

const hardware = useHardware();

function randomCodes(n: number, bits: number, seed: number): Int32Array {
  const r = rng(seed);
  const out = new Int32Array(n);
  const lo = -(2 ** (bits - 1));
  for (let i = 0; i < n; i++) out[i] = lo + Math.floor(r() * 2 ** bits);
  return out;
}

async function gpuPack(hw: Awaited<ReturnType<ReturnType<typeof useHardware>>>, codes: Int32Array, rows: number, cols: number, bits: number, dim: 0 | 1): Promise<Uint32Array> {
  const src = Tensor.fromData(hw, codes, [rows * cols], 'i32');
  const words = dim === 1 ? rows * Math.ceil((cols * bits) / 32) : Math.ceil((rows * bits) / 32) * cols;
  const out = Tensor.empty(hw, [Math.max(words, 1)], 'u32');
  fillWords(hw, out, 0x7fbadbad);
  const args = { codes: { buffer: src.buffer }, out: { buffer: out.buffer }, rows, cols, bits, offset: 2 ** (bits - 1) };
  if (dim === 1) packRows(hw, args);
  else packColumns(hw, args);
  const got = (await out.readU32()).slice(0, words);
  src.dispose();
  out.dispose();
  return got;
}

describe('pack kernels (pack_to_int32)', () => {
  it('compressed-tensors test_pack_to_int32 vectors (§6.1)', async () => {
    const hw = await hardware();
    const vectors: [number, number[][], number[][]][] = [
      [4, [[1]], [[9]]],
      [8, [[1]], [[129]]],
      [4, [[1, 2, 3, 4]], [[52137]]],
      [4, [[-8, -7, -6, -5, -4, -3, -2, -1]], [[1985229328]]],
      [8, [[1, 2, 3, 4]], [[-2071756159]]],
      [8, [[-128, -127, -126, -125]], [[50462976]]],
      [4, [[-8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4]], [[1985229328, 52137]]],
      [4, [[-8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, -8, -8, -8, -8], [1, 2, 3, 4, -8, -8, -8, -8, -8, -7, -6, -5, -4, -3, -2, -1]], [[1985229328, 52137], [52137, 1985229328]]],
      [8, [[1, 2, 3, 4], [-128, -127, -126, -125]], [[-2071756159], [50462976]]],
      [8, [[1, 2, 3, 4, -128, -127, -126, -125], [-128, -127, -126, -125, 1, 2, 3, 4]], [[-2071756159, 50462976], [50462976, -2071756159]]],
    ];
    await inErrorScope(hw, async () => {
      for (const [bits, rowsIn, want] of vectors) {
        const rows = rowsIn.length;
        const cols = rowsIn[0].length;
        const got = await gpuPack(hw, Int32Array.from(rowsIn.flat()), rows, cols, bits, 1);
        expect([...new Int32Array(got.buffer, got.byteOffset, got.length)]).toEqual(want.flat());
      }
    });
  });

  it('zero points packed down the output dimension: the §6.4 example', async () => {
    const hw = await hardware();
    await inErrorScope(hw, async () => {
      const got = await gpuPack(hw, Int32Array.from([-8, 0, 7, -1, 3, 2, -5, 1, 4]), 9, 1, 4, 0);
      expect([...got]).toEqual([0x93ab7f80, 0x0000000c]);
    });
  });

  for (const bits of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`${bits}-bit rows and columns equal the reference and src/io's CPU packing, bit for bit`, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      await inErrorScope(hw, async () => {
        for (const [rows, cols] of [[5, 37], [33, 64], [1, 1], [17, 100]]) {
          const codes = randomCodes(rows * cols, bits, seed + rows);
          const want = referencePackInt32(codes, rows, cols, bits, 1);
          const got = await gpuPack(hw, codes, rows, cols, bits, 1);
          expect(got, `rows, seed ${seed}`).toEqual(want);
          const io = packInt32(Int8Array.from(codes), rows, cols, bits);
          expect(new Uint32Array(io.buffer, io.byteOffset, io.length), `io rows, seed ${seed}`).toEqual(got);
          const wantCols = referencePackInt32(codes, rows, cols, bits, 0);
          const gotCols = await gpuPack(hw, codes, rows, cols, bits, 0);
          expect(gotCols, `columns, seed ${seed}`).toEqual(wantCols);
          const ioCols = packZeroPoints(Int8Array.from(codes), rows, cols, bits);
          expect(new Uint32Array(ioCols.buffer, ioCols.byteOffset, ioCols.length), `io columns, seed ${seed}`).toEqual(gotCols);
        }
      });
    });
  }

  it('fused quantize+pack output equals src/io packInt32 / packZeroPoints of the same codes', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    for (const [args, rows, cols] of [
      [makeQuantizationArgs({ numBits: 4, strategy: 'group', groupSize: 32, symmetric: false }), 19, 96],
      [makeQuantizationArgs({ numBits: 3, strategy: 'channel', symmetric: false }), 21, 70],
      [presetScheme('W8A16').weights!, 9, 256],
    ] as const) {
      const w = randn(rows * cols, seed, 0.1);
      await inErrorScope(hw, async () => {
        const { gpu, ref } = await runBoth(hw, w, rows, cols, args);
        const codes = Int8Array.from(decodeCodes(gpu));
        const io = packInt32(codes, rows, cols, args.numBits);
        expect(new Uint32Array(io.buffer, io.byteOffset, io.length), `seed ${seed}`).toEqual(gpu.packed);
        if (gpu.zeroPoints) {
          const g = gpu.geometry;
          const zp = packZeroPoints(Int8Array.from(gpu.zeroPoints), g.nGroupRows, g.nGroupCols, args.numBits);
          expect(new Uint32Array(zp.buffer, zp.byteOffset, zp.length), `zp seed ${seed}`).toEqual(gpu.packedZeroPoints);
          expect([...gpu.zeroPoints]).toEqual([...ref.zeroPoints!]);
        }
      });
    }
  });
});

describe('worked examples (compressed-tensors.md §6.4)', () => {
  it('W4 symmetric group 8: scale 0.093333334, packed 0xD7C80F59', async () => {
    const hw = await hardware();
    const w = Float32Array.from([0.1, -0.25, 0.7, -0.7, 0.0, 0.33, -0.05, 0.5]);
    const args = makeQuantizationArgs({ numBits: 4, strategy: 'group', groupSize: 8 });
    await inErrorScope(hw, async () => {
      const { gpu, ref } = await runBoth(hw, w, 1, 8, args);
      expect(f32Bits(gpu.scales[0]).toString(16)).toBe('3dbf258c');
      expect([...decodeCodes(gpu)]).toEqual([1, -3, 7, -8, 0, 4, -1, 5]);
      expect(gpu.packed[0]).toBe(0xd7c80f59);
      expect([...ref.codes]).toEqual([1, -3, 7, -8, 0, 4, -1, 5]);
    });
  });

  it('W4 asymmetric group 8: scale 0.080000006, zero point −8, packed 0x814FB520', async () => {
    const hw = await hardware();
    const w = Float32Array.from([0.0, 0.2, 0.4, 0.9, 1.2, 0.3, 0.1, 0.6]);
    const args = makeQuantizationArgs({ numBits: 4, strategy: 'group', groupSize: 8, symmetric: false });
    await inErrorScope(hw, async () => {
      const { gpu } = await runBoth(hw, w, 1, 8, args);
      expect(f32Bits(gpu.scales[0]).toString(16)).toBe('3da3d70b');
      expect(gpu.zeroPoints![0]).toBe(-8);
      expect([...decodeCodes(gpu)]).toEqual([-8, -6, -3, 3, 7, -4, -7, 0]);
      expect(gpu.packed[0]).toBe(0x814fb520);
    });
  });

  it('FP4 nibbles of test_fp4_quant row 0 → bytes F9 B9 7A 80', async () => {
    const codes = [-0.5, -6, -0.5, -1.5, -1, 6, 0, -0].map((v) => fp4Code(v));
    expect(codes).toEqual([9, 15, 9, 11, 10, 7, 0, 8]);
    expect([...referencePackBytes(codes, 1, 8, 4)]).toEqual([0xf9, 0xb9, 0x7a, 0x80]);
    // cast_to_fp4 sends an exact −0 to +0 (torch.sign(−0) = 0) but a small negative to −0.
    expect(fp4Code(castToFp4(-0))).toBe(0);
    expect(fp4Code(castToFp4(-0.1))).toBe(8);
  });

  it('NVFP4 bytes from the GPU equal the reference nibble stream', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const w = randn(6 * 48, seed, 0.2);
    await inErrorScope(hw, async () => {
      const { gpu, ref } = await runBoth(hw, w, 6, 48, presetScheme('NVFP4A16').weights!);
      expect([...compactBytes(gpu)], `seed ${seed}`).toEqual([...referencePackBytes(ref.codes, 6, 48, 4)]);
      const again = referenceQuantize(w, 6, 48, presetScheme('NVFP4A16').weights!);
      expect(again.globalScale).toBe(gpu.globalScale);
    });
  });
});
