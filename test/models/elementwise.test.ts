import { describe, it } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { randn, freshSeed, rng } from '../helpers/random.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { siluMul, add } from '../../src/models/kernels/activation.js';
import { embedTokens } from '../../src/models/kernels/embedding.js';
import { logSoftmaxNll, NO_TARGET } from '../../src/models/kernels/nll.js';
import { expectClose, expectNoRaces, poisoned } from './helpers.js';

const hardware = useHardware();

describe('siluMul / add', () => {
  for (const n of [4, 172 * 3, 65540]) {
    it(`silu(gate)·up over ${n} values`, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      // Include large |x| so the overflow branch of e^-x is exercised.
      const g = randn(n, seed, 6);
      const u = randn(n, seed + 1);
      await inErrorScope(hw, async () => {
        const y = siluMul(hw, Tensor.fromData(hw, g, [n], 'f32'), Tensor.fromData(hw, u, [n], 'f32'), poisoned(hw, [n]));
        const want = Float64Array.from(g, (x, i) => (x / (1 + Math.exp(-x))) * u[i]);
        // exp and a division in f32: a few ulp; WGSL allows exp 3 + 2|x| ulp.
        expectClose(await y.readF32(), want, { atol: 1e-7, rtol: 4e-6 }, `seed ${seed}`);
      });
    });
  }

  it('add is an exact f32 add', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const n = 4 * 1001;
    const h = randn(n, seed);
    const d = randn(n, seed + 1);
    await inErrorScope(hw, async () => {
      const y = add(hw, Tensor.fromData(hw, h, [n], 'f32'), Tensor.fromData(hw, d, [n], 'f32'), poisoned(hw, [n]));
      expectClose(await y.readF32(), Float64Array.from(h, (x, i) => Math.fround(x + d[i])), { atol: 0, rtol: 0 }, `seed ${seed}`);
    });
  });
});

describe('embedTokens', () => {
  it('gathers rows from a table split into chunks', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const vocab = 37;
    const hidden = 12;
    const n = 300;
    const table = randn(vocab * hidden, seed);
    const r = rng(seed + 1);
    const ids = Uint32Array.from({ length: n }, () => Math.floor(r() * vocab));
    await inErrorScope(hw, async () => {
      // 256-byte chunks: 5 rows each, so ids land in 8 different chunks.
      const t = Tensor.fromData(hw, table, [vocab, hidden], 'f32', { maxChunkBytes: 256 });
      const y = embedTokens(hw, t, Tensor.fromData(hw, ids, [n], 'u32'), poisoned(hw, [n, hidden]));
      const want = new Float64Array(n * hidden);
      ids.forEach((id, i) => want.set(table.subarray(id * hidden, (id + 1) * hidden), i * hidden));
      expectClose(await y.readF32(), want, { atol: 0, rtol: 0 }, `seed ${seed}`);
    });
  });
});

function referenceNll(logits: Float32Array, rows: number, vocab: number, targets: Uint32Array): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    if (targets[r] === NO_TARGET) continue;
    let m = -Infinity;
    for (let v = 0; v < vocab; v++) m = Math.max(m, logits[r * vocab + v]);
    let s = 0;
    for (let v = 0; v < vocab; v++) s += Math.exp(logits[r * vocab + v] - m);
    out[r] = m + Math.log(s) - logits[r * vocab + targets[r]];
  }
  return out;
}

describe('logSoftmaxNll', () => {
  for (const [rows, vocab, scale] of [[9, 512, 3], [3, 32000, 8], [70, 1028, 30]] as const) {
    it(`${rows} rows × vocabulary ${vocab}, logits scale ${scale}`, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const logits = randn(rows * vocab, seed, scale);
      const r = rng(seed + 1);
      const tailRows = Math.min(rows, 5);
      const targets = Uint32Array.from({ length: rows + tailRows }, () => Math.floor(r() * vocab));
      targets[rows + tailRows - 1] = NO_TARGET;
      await inErrorScope(hw, async () => {
        const nll = poisoned(hw, [rows + tailRows]);
        const tt = Tensor.fromData(hw, targets, [rows + tailRows], 'u32');
        // Two blocks written at their offsets, as the forward does block by block.
        const a = Math.ceil(rows / 2);
        logSoftmaxNll(hw, Tensor.fromData(hw, logits.subarray(0, a * vocab), [a, vocab], 'f32'), tt, nll, 0);
        logSoftmaxNll(hw, Tensor.fromData(hw, logits.subarray(a * vocab), [rows - a, vocab], 'f32'), tt, nll, a);
        const tail = Tensor.fromData(hw, logits.subarray(0, tailRows * vocab), [tailRows, vocab], 'f32');
        logSoftmaxNll(hw, tail, tt, nll, rows);
        const want = Float64Array.from([...referenceNll(logits, rows, vocab, targets), ...referenceNll(logits.subarray(0, tailRows * vocab), tailRows, vocab, targets.subarray(rows))]);
        // logsumexp in f32 of values up to ~5·scale: error ≈ ulp(|max|) + ulp of the
        // sum of V terms; absolute 1e-5·scale and relative 1e-5.
        expectClose(await nll.readF32(), want, { atol: 1e-5 * scale, rtol: 1e-5 }, `seed ${seed}`);
      });
    });
  }

  it('has no workgroup-memory races', async () => {
    const hw = await hardware();
    const vocab = 44;
    const rows = 2;
    const logits = randn(rows * vocab, freshSeed());
    expectNoRaces(hw, { shader: 'nll', entryPoint: 'logSoftmaxNll', constants: { WG: 8 } }, { rows, v4: vocab / 4, outOffset: 0, _pad: 0 },
      { logits, targets: Uint32Array.from([3, 40]), nll: new Float32Array(rows) }, [rows]);
  });
});
