import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { randn, freshSeed } from '../helpers/random.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { causalAttention, attentionTiling } from '../../src/models/kernels/attention.js';
import { applyRotaryQK, RopeTable } from '../../src/models/kernels/rope.js';
import { ropeInverseFrequencies } from '../../src/models/llama/rope.js';
import { causalAttention as refAttention, applyRope as refRope } from '../../src/models/reference/llama.js';
import { expectClose, expectNoRaces, poisoned } from './helpers.js';

const hardware = useHardware();

/** Reference attention for a batch with queries at the end of a longer key sequence (a KV cache). */
function referenceAttention(q: Float32Array, k: Float32Array, v: Float32Array, s: { batch: number; seqLen: number; kvLen: number; nq: number; nkv: number; d: number; window: number | null }): Float64Array {
  const out = new Float64Array(s.batch * s.seqLen * s.nq * s.d);
  for (let b = 0; b < s.batch; b++) {
    // Pad the queries to the full key length so the reference sees the same positions.
    const qFull = new Float64Array(s.kvLen * s.nq * s.d);
    const off = s.kvLen - s.seqLen;
    qFull.set(q.subarray(b * s.seqLen * s.nq * s.d, (b + 1) * s.seqLen * s.nq * s.d), off * s.nq * s.d);
    const kb = Float64Array.from(k.subarray(b * s.kvLen * s.nkv * s.d, (b + 1) * s.kvLen * s.nkv * s.d));
    const vb = Float64Array.from(v.subarray(b * s.kvLen * s.nkv * s.d, (b + 1) * s.kvLen * s.nkv * s.d));
    const o = refAttention(qFull, kb, vb, s.kvLen, s.nq, s.nkv, s.d, s.window);
    out.set(o.subarray(off * s.nq * s.d), b * s.seqLen * s.nq * s.d);
  }
  return out;
}

// Scores are q·k/√d over d products in f32, softmax weights exp() in f32 and
// a weighted sum of ≤ kvLen values: with unit-variance inputs the outputs are
// O(1) and the error a few 1e-7 · √(terms); 2e-5 absolute (plus relative)
// leaves an order of magnitude of margin yet catches any masking/indexing slip.
const TOL = { atol: 2e-5, rtol: 2e-5 };

describe('causalAttention', () => {
  const cases = [
    { name: 'stories260K shape (d=8, GQA 8/4)', batch: 1, seqLen: 37, kvLen: 37, nq: 8, nkv: 4, d: 8, window: null },
    { name: 'batch of 2, d=64, GQA 4/2, several query blocks', batch: 2, seqLen: 70, kvLen: 70, nq: 4, nkv: 2, d: 64, window: null },
    { name: 'd=128, MQA 4/1', batch: 1, seqLen: 33, kvLen: 33, nq: 4, nkv: 1, d: 128, window: null },
    { name: 'd=12 (vec4 count not a power of two)', batch: 1, seqLen: 45, kvLen: 45, nq: 3, nkv: 3, d: 12, window: null },
    { name: 'sliding window 7', batch: 2, seqLen: 50, kvLen: 50, nq: 2, nkv: 1, d: 16, window: 7 },
    { name: 'queries after a cache (kvLen > seqLen)', batch: 2, seqLen: 5, kvLen: 41, nq: 4, nkv: 2, d: 32, window: null },
    { name: 'single query (decode step)', batch: 1, seqLen: 1, kvLen: 23, nq: 4, nkv: 4, d: 64, window: null },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const q = randn(c.batch * c.seqLen * c.nq * c.d, seed);
      const k = randn(c.batch * c.kvLen * c.nkv * c.d, seed + 1);
      const v = randn(c.batch * c.kvLen * c.nkv * c.d, seed + 2);
      await inErrorScope(hw, async () => {
        const qt = Tensor.fromData(hw, q, [c.batch * c.seqLen, c.nq * c.d], 'f32');
        const kt = Tensor.fromData(hw, k, [c.batch * c.kvLen, c.nkv * c.d], 'f32');
        const vt = Tensor.fromData(hw, v, [c.batch * c.kvLen, c.nkv * c.d], 'f32');
        const o = causalAttention(hw, qt, kt, vt, { batch: c.batch, seqLen: c.seqLen, kvLen: c.kvLen, qHeads: c.nq, kvHeads: c.nkv, headDim: c.d, window: c.window }, poisoned(hw, [c.batch * c.seqLen, c.nq * c.d]));
        expectClose(await o.readF32(), referenceAttention(q, k, v, { ...c, kvLen: c.kvLen }), TOL, `seed ${seed}`);
      });
    });
  }

  it('a 1024-token sequence (32 key tiles per query block) stays accurate', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const T = 1024;
    const d = 64;
    const q = randn(T * d, seed);
    const k = randn(T * d, seed + 1);
    const v = randn(T * d, seed + 2);
    await inErrorScope(hw, async () => {
      const o = causalAttention(hw, Tensor.fromData(hw, q, [T, d], 'f32'), Tensor.fromData(hw, k, [T, d], 'f32'), Tensor.fromData(hw, v, [T, d], 'f32'),
        { batch: 1, seqLen: T, qHeads: 1, kvHeads: 1, headDim: d }, poisoned(hw, [T, d]));
      expectClose(await o.readF32(), referenceAttention(q, k, v, { batch: 1, seqLen: T, kvLen: T, nq: 1, nkv: 1, d, window: null }), TOL, `seed ${seed}`);
    });
  });

  it('tiles fit the workgroup memory limit', () => {
    for (const d of [8, 64, 128, 256]) {
      for (const limit of [16384, 32768]) {
        const { tpq, bk, d4 } = attentionTiling(d, limit);
        expect(2 * bk * d4 * 16 + 64 * bk * 4).toBeLessThanOrEqual(limit);
        expect(Math.ceil(d4 / tpq)).toBeLessThanOrEqual(8);
      }
    }
  });

  it('has no workgroup-memory races (partial tiles, window, dead queries)', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const seqLen = 11;
    const nq = 2;
    const D4 = 3;
    const q = randn(seqLen * nq * D4 * 4, seed);
    const kv = randn(seqLen * D4 * 4, seed + 1);
    // Threads sharing a query through workgroup memory (TPQ 2), and one thread per query (TPQ 1).
    for (const { TPQ, WG } of [{ TPQ: 2, WG: 8 }, { TPQ: 1, WG: 4 }]) {
      const qBlocks = Math.ceil(seqLen / (WG / TPQ));
      const uniforms = { seqLen, kvLen: seqLen, qOffset: 0, qHeads: nq, kvHeads: 1, window: 5, qBlocks, count: nq * qBlocks, scale: 0.3 };
      expectNoRaces(hw, { shader: 'attention', entryPoint: 'attention', constants: { D4, TPQ, BK: 4, WG } }, uniforms, { q, k: kv, v: kv.slice(), o: new Float32Array(q.length) }, [nq * qBlocks]);
    }
  });
});

describe('applyRotaryQK', () => {
  for (const [T, nq, nkv, d, offset] of [[9, 8, 4, 8, 0], [17, 4, 2, 64, 0], [4, 2, 1, 128, 300]] as const) {
    it(`T=${T} heads ${nq}/${nkv} d=${d} from position ${offset}`, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const batch = 2;
      const q = randn(batch * T * nq * d, seed);
      const k = randn(batch * T * nkv * d, seed + 1);
      const inv = ropeInverseFrequencies(d, 500000, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 });
      await inErrorScope(hw, async () => {
        const qt = Tensor.fromData(hw, q, [batch * T, nq * d], 'f32');
        const kt = Tensor.fromData(hw, k, [batch * T, nkv * d], 'f32');
        const table = new RopeTable(hw, inv);
        applyRotaryQK(hw, qt, kt, table, { rows: batch * T, qHeads: nq, kHeads: nkv, seqLen: T, posOffset: offset });
        for (const [t, host, heads] of [[qt, q, nq], [kt, k, nkv]] as const) {
          const want = new Float64Array(host.length);
          for (let b = 0; b < batch; b++) {
            const part = Float64Array.from(host.subarray(b * T * heads * d, (b + 1) * T * heads * d));
            refRope(part, T, heads, d, inv, offset);
            want.set(part, b * T * heads * d);
          }
          // Two f32 products and a sum of values with |x| ~ 3, cos/sin rounded to f32.
          expectClose(await t.readF32(), want, { atol: 2e-6, rtol: 1e-6 }, `seed ${seed}`);
        }
        table.dispose();
      });
    });
  }
});
