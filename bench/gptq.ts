/**
 * GPTQ benchmarks (issue 7):
 * - Hessian accumulation H += 2·XᵀX from a Linear's inputs, in GFLOP/s of
 *   the dense-equivalent 2·T·n² (the kernel computes the upper tiles only,
 *   about half of that);
 * - the inverse-Hessian factor (dampening, blocked Cholesky, triangular
 *   inverse: U with UᵀU = H⁻¹) in seconds at n = 4096 and 14336
 *   (1024 only with --quick);
 * - one GPTQ layer end to end from an accumulated Hessian (activation
 *   order, observer, factorisation, lazy-batch loop, inverse permutation)
 *   for a 4096×4096 and a 14336×4096 weight (1024×1024 with --quick),
 *   int4 group 128, in wall-clock seconds.
 */
import type { Hardware } from '../src/gpu/hardware.js';
import { Tensor } from '../src/gpu/tensor.js';
import { fillWords } from '../src/gpu/kernels/elementwise.js';
import { createDiagonal, createHessian, dampen, hessianAccumulate, recordDiagonal } from '../src/compression/kernels/hessian.js';
import { createCholeskyWorkspace, inverseUpperFactor } from '../src/compression/kernels/cholesky.js';
import { paddedSize } from '../src/compression/kernels/square.js';
import { gptqQuantizeLayer, readGptqOutcome } from '../src/compression/gptq.js';
import { makeQuantizationArgs } from '../src/quantization/args.js';
import { quantizeWeightGpu, type GpuQuantizedWeight } from '../src/quantization/quantizeWeight.js';
import type { BenchEntry, BenchOptions } from './types.js';
import { measureGpu, rotationCount } from './measure.js';
import { rateEntry } from './ceilings.js';
import { randomWeights } from './random.js';

const F32_HALF = 0x3f000000;

async function benchHessian(hw: Hardware, n: number, tokens: number, reps: number): Promise<BenchEntry> {
  const slots = rotationCount(tokens * n * 4, 4);
  const xs = Array.from({ length: slots }, (_, i) => Tensor.fromData(hw, randomWeights(tokens * n, 500 + i, 1), [tokens, n], 'f32'));
  const h = createHessian(hw, n);
  try {
    const m = await measureGpu(hw, { reps, slots, record: (s) => hessianAccumulate(hw, h, n, xs[s], 1, 2) });
    return rateEntry(`gptq.hessian.${tokens}x${n}`, 'GFLOP/s', m, 2 * tokens * n * n, 1e9, { tokens, n, note: 'dense-equivalent 2·T·n²; upper tiles only are computed' });
  } finally {
    xs.forEach((x) => x.dispose());
    h.dispose();
  }
}

/** A symmetric positive definite [np, np] matrix made on the GPU: 0.5 everywhere, n on the diagonal. */
function spdMatrix(hw: Hardware, n: number): Tensor {
  const h = createHessian(hw, n);
  fillWords(hw, h, F32_HALF);
  const d = createDiagonal(hw, paddedSize(n));
  recordDiagonal(hw, h, n, d, true);
  dampen(hw, h, n, d, 2 * n);
  d.diag.dispose();
  d.dead.dispose();
  d.stats.dispose();
  return h;
}

async function benchFactor(hw: Hardware, n: number, reps: number): Promise<BenchEntry> {
  const np = paddedSize(n);
  const pristine = spdMatrix(hw, n);
  const work = createHessian(hw, n);
  const ws = createCholeskyWorkspace(hw, np);
  try {
    const m = await measureGpu(hw, {
      reps,
      warmup: n > 8192 ? 0 : 1,
      record: () => {
        pristine.chunks.forEach((c, i) => hw.batcher.copy(c.buffer, 0, work.chunks[i].buffer, 0, c.byteLength));
        inverseUpperFactor(hw, work, ws).dispose();
      },
    });
    const failed = (await ws.status.readU32())[0] !== 0;
    if (failed) throw new Error(`bench gptq.factor: the ${n}-wide test matrix failed to factorise`);
    return rateEntry(`gptq.cholesky_inverse.${n}`, 's', m, 1, 1, { n, gflop: ((2 / 3) * np ** 3) / 1e9, note: 'cholesky + triangular inverse (U = chol(H⁻¹) upper)' });
  } finally {
    pristine.dispose();
    work.dispose();
    ws.dinv.dispose();
    ws.status.dispose();
  }
}

async function benchLayer(hw: Hardware, rows: number, cols: number): Promise<BenchEntry> {
  const args = makeQuantizationArgs({ numBits: 4, type: 'int', symmetric: true, strategy: 'group', groupSize: 128, observer: 'minmax' });
  const w = Tensor.fromData(hw, randomWeights(rows * cols, 900, 0.02), [rows, cols], 'f32');
  const h = spdMatrix(hw, cols);
  await hw.sync();
  let observed: GpuQuantizedWeight | undefined;
  const t0 = performance.now();
  const r = await gptqQuantizeLayer(hw, w, h, undefined, {
    blockSize: 128,
    dampFrac: 0.01,
    actorder: 'static',
    format: { type: 'int', numBits: 4 },
    layout: { strategy: 'group', groupSize: 128 },
    observe: (x) => {
      observed = quantizeWeightGpu(hw, x, args);
      const g = observed.geometry.nGroupRows * observed.geometry.nGroupCols;
      return { scale: { buffer: observed.qp.buffer, offset: 0, size: g * 4 }, zeroPoint: null, globalScale: null };
    },
  });
  await hw.sync();
  const seconds = (performance.now() - t0) / 1000;
  const { failed } = await readGptqOutcome(r);
  r.weight.dispose();
  r.losses.dispose();
  r.status.dispose();
  observed?.dispose();
  w.dispose();
  if (failed) throw new Error('bench gptq.layer: factorisation failed');
  return { name: `gptq.layer.${rows}x${cols}`, unit: 's', value: seconds, extra: { rows, cols, blockSize: 128, scheme: 'int4 group 128, actorder static', timer: 'wall' } };
}

export default async function benchGptq(hw: Hardware, opts: BenchOptions): Promise<BenchEntry[]> {
  const out: BenchEntry[] = [];
  const n = opts.quick ? 1024 : 4096;
  out.push(await benchHessian(hw, n, opts.quick ? 256 : 512, 3));
  out.push(await benchFactor(hw, n, opts.quick ? 2 : 1));
  // ~2 TFLOP: tens of minutes on a CPU adapter (WGC_BENCH_SKIP_14336_FACTOR=1 leaves it out).
  if (!opts.quick && process.env.WGC_BENCH_SKIP_14336_FACTOR !== '1') out.push(await benchFactor(hw, 14336, 1));
  out.push(await benchLayer(hw, n, n));
  if (!opts.quick) out.push(await benchLayer(hw, 14336, 4096));
  return out;
}
