import { describe, it } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed, rng } from '../helpers/random.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { fillWords } from '../../src/gpu/kernels/elementwise.js';
import { castToFp4, f32Bits, f32FromBits, f32ToF16Bits, f16BitsToNumber, fp4Code, roundBf16, toE4M3Byte } from '../../src/quantization/numerics.js';

const hardware = useHardware();

/** Random f32 bit patterns across the whole finite range, subnormals and zeros included. */
function randomPairs(n: number, seed: number): Uint32Array {
  const r = rng(seed);
  const out = new Uint32Array(2 * n);
  for (let i = 0; i < 2 * n; i++) {
    const kind = r();
    let bits: number;
    if (kind < 0.15) bits = Math.floor(r() * 0x800000); // subnormal
    else if (kind < 0.2) bits = 0;
    else if (kind < 0.6) bits = ((Math.floor(r() * 40) + 107) << 23) | Math.floor(r() * 0x800000); // |x| in [2^-20, 2^20)
    else bits = (Math.floor(r() * 254) + 1) * 0x800000 + Math.floor(r() * 0x800000);
    if (r() < 0.5) bits |= 0x80000000;
    out[i] = bits >>> 0;
  }
  // Exact ties for the roundings: halfway cases of f16, bf16 and FP8.
  out[0] = 0x3f808000; // 1 + 2^-8: a bf16 tie
  out[2] = 0x3f801000; // 1 + 2^-11: an f16 tie
  out[4] = 0x3f880000; // 1.0625: an FP8 tie
  out[6] = f32Bits(2 ** -10); // FP8 subnormal tie at 0.5 · 2^-9
  out[8] = f32Bits(0.25);
  out[10] = f32Bits(-0.75);
  return out;
}

describe('exact arithmetic helpers of quantize.wgsl (subnormals included)', () => {
  it('divRN, mulExact, mulRN, addPos, f16/bf16 rounding, FP8/FP4 codes equal IEEE results', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const n = 20000;
    const pairs = randomPairs(n, seed);
    await inErrorScope(hw, async () => {
      const input = Tensor.fromData(hw, pairs, [2 * n], 'u32');
      const out = Tensor.empty(hw, [8 * n], 'u32');
      fillWords(hw, out, 0x7fbadbad);
      const kernel = hw.kernels.get({ shader: 'quantize', entryPoint: 'arithmeticSelfTest', flags: { VEC4: false }, constants: { WG: 256 } });
      const uniforms: Record<string, number> = {};
      for (const name of kernel.uniformMemberNames) uniforms[name] = 0;
      uniforms.nUnits = n;
      kernel.run(hw.batcher, { bindings: { w: input.buffer, packed: out.buffer }, uniforms, workgroups: Math.ceil(n / 256) });
      const got = await out.readU32();
      for (let i = 0; i < n; i++) {
        const a = f32FromBits(pairs[2 * i]);
        const b = f32FromBits(pairs[2 * i + 1]);
        const want = [
          b === 0 ? null : f32Bits(a / b),
          f32Bits(a * b),
          f32Bits(Math.abs(a) + Math.abs(b)),
          f32Bits(f16BitsToNumber(f32ToF16Bits(a))),
          f32Bits(roundBf16(a)),
          toE4M3Byte(Math.max(-448, Math.min(448, a))),
          fp4Code(castToFp4(Math.max(-6, Math.min(6, a)))),
          f32Bits(a * b),
        ];
        const names = ['divRN', 'mulExact', 'addPos', 'f16', 'bf16', 'fp8', 'fp4', 'mulRN'];
        for (let k = 0; k < 8; k++) {
          const wv = want[k];
          if (wv === null) continue;
          if (got[8 * i + k] !== wv) {
            throw new Error(`seed ${seed}: ${names[k]}(${a} [0x${pairs[2 * i].toString(16)}], ${b} [0x${pairs[2 * i + 1].toString(16)}]) = 0x${got[8 * i + k].toString(16)}, want 0x${wv.toString(16)}`);
          }
        }
      }
      input.dispose();
      out.dispose();
    });
  });
});
