import { describe, it, expect } from 'vitest';
import { detectRaces } from 'wgsl_reflect/wgsl_reflect.module.js';
import { useHardware, inErrorScope } from './helpers/gpu.js';
import { randn, freshSeed } from './helpers/random.js';
import { Tensor } from '../src/gpu/tensor.js';
import { reduceSegments, type ReduceOp } from '../src/gpu/kernels/reduce.js';
import { fillWords } from '../src/gpu/kernels/elementwise.js';
import { preprocessWgsl } from '../src/gpu/preprocess.js';
import { shaderSources } from '../src/gpu/shaderSources.generated.js';

const hardware = useHardware();

/** float64 reference per segment; also Σ|x| for the sum tolerance. */
function reference(x: Float32Array, rowLen: number, segLen: number, op: ReduceOp): { vals: number[]; mags: number[] } {
  const rows = x.length / rowLen;
  const vals: number[] = [];
  const mags: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let s = 0; s < rowLen; s += segLen) {
      const seg = Array.from(x.subarray(r * rowLen + s, r * rowLen + Math.min(s + segLen, rowLen)));
      const mag = seg.reduce((m, v) => m + Math.abs(v), 0);
      if (op === 'sum') vals.push(seg.reduce((m, v) => m + v, 0));
      else if (op === 'max') vals.push(Math.max(...seg));
      else if (op === 'absmax') vals.push(Math.max(...seg.map(Math.abs)));
      else vals.push(Math.min(...seg), Math.max(...seg));
      mags.push(mag);
      if (op === 'minmax') mags.push(mag);
    }
  }
  return { vals, mags };
}

function compare(got: Float32Array, ref: { vals: number[]; mags: number[] }, op: ReduceOp, segLen: number, seed: number): void {
  expect(got.length).toBe(ref.vals.length);
  for (let i = 0; i < got.length; i++) {
    // max/min/absmax are exact; a sum in any order is within segLen·eps·Σ|x|.
    const tol = op === 'sum' ? segLen * 2 ** -24 * ref.mags[i] : 0;
    if (!(Math.abs(got[i] - ref.vals[i]) <= tol)) throw new Error(`seed ${seed} ${op}: segment ${i}: got ${got[i]}, want ${ref.vals[i]} (tol ${tol})`);
  }
}

const cases: { rows: number; rowLen: number; segment?: number }[] = [
  { rows: 1, rowLen: 1 },
  { rows: 3, rowLen: 5 },
  { rows: 255, rowLen: 300 },
  { rows: 257, rowLen: 64, segment: 32 },
  { rows: 7, rowLen: 172, segment: 32 }, // partial last group (172 = 5·32 + 12)
  { rows: 65537, rowLen: 3 }, // more segments than one grid dimension holds: folded
];

describe('reduceSegments', () => {
  for (const variant of ['subgroups', 'workgroup-memory'] as const) {
    for (const op of ['sum', 'max', 'absmax', 'minmax'] as const) {
      for (const c of cases) {
        it(`${variant} ${op} rows=${c.rows} rowLen=${c.rowLen}${c.segment ? ` group=${c.segment}` : ''}`, async () => {
          const hw = await hardware();
          if (variant === 'subgroups' && !hw.caps.subgroups) return;
          const seed = freshSeed();
          const x = randn(c.rows * c.rowLen, seed, 3);
          await inErrorScope(hw, async () => {
            const t = Tensor.fromData(hw, x, [c.rows, c.rowLen], 'f32');
            const segs = c.rows * Math.ceil(c.rowLen / (c.segment ?? c.rowLen));
            const out = Tensor.empty(hw, op === 'minmax' ? [segs, 2] : [segs], 'f32');
            fillWords(hw, out);
            reduceSegments(hw, t, op, { segment: c.segment, forceWorkgroupMemory: variant === 'workgroup-memory', out });
            compare(await out.readF32(), reference(x, c.rowLen, c.segment ?? c.rowLen, op), op, c.segment ?? c.rowLen, seed);
            t.dispose();
            out.dispose();
          });
        });
      }
    }
  }

  it('reduces every row of a tensor split into chunks', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const [rows, rowLen] = [50, 40];
    const x = randn(rows * rowLen, seed);
    await inErrorScope(hw, async () => {
      const t = Tensor.fromData(hw, x, [rows, rowLen], 'f32', { maxChunkBytes: 1600 });
      expect(t.chunks.length).toBeGreaterThan(1);
      const out = Tensor.empty(hw, [rows * 3, 2], 'f32');
      fillWords(hw, out);
      reduceSegments(hw, t, 'minmax', { segment: 16, out });
      compare(await out.readF32(), reference(x, rowLen, 16, 'minmax'), 'minmax', 16, seed);
    });
  });

  it('the workgroup-memory tree has no data races (wgsl_reflect detectRaces)', () => {
    const src = preprocessWgsl(shaderSources.reduce, { SUBGROUPS: false });
    // Small workgroup so the sequential race detector stays fast.
    const small = src.replace('override WG: u32 = 256u;', 'override WG: u32 = 8u;');
    const params = new Uint32Array([1, 20, 20, 1, 0, 0, 0, 0]);
    const result = detectRaces(small, 'reduceSegments', [1, 1, 1], {
      0: { 0: { uniform: params }, 1: { buffer: randn(20, 1) }, 2: { buffer: new Float32Array(2) } },
    });
    expect(result.errors).toEqual([]);
    expect(result.races).toEqual([]);
    // The detector does find a race when the barrier inside the tree is removed.
    const broken = small.replace(/(redB\[li\] = max\(redB\[li\], redB\[li \+ s\]\);\s*\}\s*)workgroupBarrier\(\);/, '$1');
    expect(broken).not.toBe(small);
    const bad = detectRaces(broken, 'reduceSegments', [1, 1, 1], {
      0: { 0: { uniform: params }, 1: { buffer: randn(20, 1) }, 2: { buffer: new Float32Array(2) } },
    });
    expect(bad.races.length).toBeGreaterThan(0);
  });
});
