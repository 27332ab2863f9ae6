/**
 * AWQ's GPU grid search (src/modifiers/awq/search.ts) against the float64
 * grid search (src/modifiers/awq/reference.ts) on small random layers whose
 * inputs have a few loud channels (where activation-aware scaling matters):
 * a Linear parent (up_proj → down_proj) and an MLP parent (norm → gate/up,
 * with NVFP4's shared global scale in one case). Both start from the same
 * statistics (the GPU's Σ|x| and weight sums, read back; those kernels are
 * tested against float64 in test/smoothquant/kernels.test.ts): the candidate
 * scales must be the reference's rounded to f32, bit for bit, so Q(W·s)
 * rounds the same way; the chosen grid point must be the reference's; the
 * losses must agree to f32 precision; two runs must give the same bits.
 */
import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';
import { expectClose } from '../models/helpers.js';
import type { Hardware } from '../../src/gpu/hardware.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { matmul } from '../../src/gpu/kernels/matmul.js';
import { siluMul } from '../../src/models/kernels/activation.js';
import { Module } from '../../src/core/model.js';
import { linear } from '../../src/models/reference/llama.js';
import { makeQuantizationArgs, type QuantizationArgs, type QuantizationArgsInput } from '../../src/quantization/args.js';
import { columnStatistic, normalizedColumnSums } from '../../src/modifiers/smoothquant/kernels.js';
import { groupGeometry } from '../../src/quantization/layout.js';
import { cloneTensor } from '../../src/modifiers/smoothquant/weights.js';
import { awqGridPoints } from '../../src/modifiers/awq/grid.js';
import { awqGridSearch, type GridSearchResult, type SearchLayer } from '../../src/modifiers/awq/search.js';
import { referenceAwqSearch, type ReferenceLayer, type ReferenceSearchResult } from '../../src/modifiers/awq/reference.js';

const hardware = useHardware();

/** Activations [rows, cols] ~ N(0,1) with a few channels 10–30× louder. */
function activations(rows: number, cols: number, seed: number): Float32Array {
  const x = randn(rows * cols, seed);
  const r = rng(seed + 99);
  const loud = new Map<number, number>();
  for (let k = 0; k < Math.max(2, cols / 16); k++) loud.set(Math.floor(r() * cols), 10 + 20 * r());
  for (let i = 0; i < x.length; i++) x[i] *= loud.get(i % cols) ?? 1;
  return x;
}

/** Σ|x| of the inputs and the normalised weight sums of the layers, as the search computes them, read back as f64 means. */
async function gpuMeans(hw: Hardware, xs: readonly Tensor[], layers: readonly { t: Tensor; args: QuantizationArgs }[]): Promise<{ xSum: GPUBuffer; tokens: number; xMean: Float64Array; wMean: Float64Array }> {
  const cols = xs[0].shape[1];
  const xSum = hw.pool.acquire(cols * 4);
  xs.forEach((x, b) => columnStatistic(hw, x, 'absSum', { buffer: xSum, accumulate: b > 0 }));
  const wSum = hw.pool.acquire(cols * 4);
  let rows = 0;
  for (const l of layers) {
    normalizedColumnSums(hw, l.t, groupGeometry(l.args, l.t.shape[0], cols), { buffer: wSum, accumulate: rows > 0 });
    rows += l.t.shape[0];
  }
  const tokens = xs.reduce((n, x) => n + x.shape[0], 0);
  const xs32 = new Float32Array(await hw.batcher.read(xSum, 0, cols * 4));
  const ws32 = new Float32Array(await hw.batcher.read(wSum, 0, cols * 4));
  return { xSum, tokens, xMean: Float64Array.from(xs32, (v) => v / tokens), wMean: Float64Array.from(ws32, (v) => v / rows) };
}

function withMemoryless(a: QuantizationArgsInput): QuantizationArgs {
  return makeQuantizationArgs({ ...a, observer: 'memoryless_minmax' });
}

/** The reference's winner must be ours; when two points are within 1e-4 of each other either is accepted. */
function expectSameChoice(got: GridSearchResult, want: ReferenceSearchResult, ctx: string): void {
  const cols = got.candidates.length / want.scales.length;
  want.scales.forEach((s, g) => expect([...got.candidates.subarray(g * cols, (g + 1) * cols)], `${ctx}: scales of grid point ${g}`).toEqual([...s].map(Math.fround)));
  const sorted = [...want.losses].sort((a, b) => a - b);
  const margin = (sorted[1] - sorted[0]) / sorted[0];
  if (margin > 1e-4) expect(got.bestIndex, `${ctx}: chosen grid point (reference margin ${margin.toExponential(2)})`).toBe(want.bestIndex);
  else expect(want.losses[got.bestIndex], `${ctx}: near-tie, chosen point's reference loss`).toBeLessThanOrEqual(sorted[0] * (1 + 1e-4));
}

interface Case {
  name: string;
  args: QuantizationArgsInput;
  duo: boolean | 'both';
  nGrid: number;
}

describe('awqGridSearch against the float64 grid search', () => {
  const linearCases: Case[] = [
    { name: 'W4 channel, duo scaling', args: { numBits: 4, strategy: 'channel' }, duo: true, nGrid: 20 },
    { name: 'W4 group 16 asymmetric, activations only', args: { numBits: 4, strategy: 'group', groupSize: 16, symmetric: false }, duo: false, nGrid: 10 },
    { name: 'W8 channel, both halves', args: { numBits: 8, strategy: 'channel' }, duo: 'both', nGrid: 8 },
  ];
  for (const c of linearCases) {
    it(`Linear parent (up_proj → down_proj): ${c.name}`, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const [out, inF, T, nBatches] = [32, 64, 24, 2];
      const w = randn(out * inF, seed, 1 / Math.sqrt(inF));
      const xs = Array.from({ length: nBatches }, (_, b) => activations(T, inF, seed + 1 + b));
      const args = withMemoryless(c.args);
      const grid = awqGridPoints(c.nGrid, c.duo);
      const xAll = new Float64Array(nBatches * T * inF);
      xs.forEach((x, b) => xAll.set(x, b * T * inF));
      await inErrorScope(hw, async () => {
        const results: GridSearchResult[] = [];
        let ref: ReferenceSearchResult | undefined;
        for (let run = 0; run < 2; run++) {
          const down = new Module(['Linear']);
          down.setParameter('weight', Tensor.fromData(hw, w, [out, inF], 'f32'));
          const xT = xs.map((x) => Tensor.fromData(hw, x, [T, inF], 'f32'));
          const { xSum, xMean, wMean } = await gpuMeans(hw, xT, [{ t: await down.getParameter('weight')!.get(), args }]);
          ref ??= referenceAwqSearch({
            xMean, wMean, grid, layers: [{ w, rows: out, cols: inF, args }],
            parent: ([wq]) => linear(xAll, nBatches * T, inF, Float64Array.from(wq), out),
          });
          const runParent = async (b: number) => matmul(hw, xT[b], await down.getParameter('weight')!.get(), { transposeB: true });
          const fp = await Promise.all(xT.map((_, b) => runParent(b)));
          const original = cloneTensor(hw, await down.getParameter('weight')!.get());
          const layers: SearchLayer[] = [{ module: down, args, original }];
          results.push(await awqGridSearch(hw, { name: 'up_proj', layers, xSum, tokens: nBatches * T, cols: inF, grid, dtype: 'f32', fpOutputs: fp, runParent }));
          original.dispose();
        }
        const [a, b] = results;
        const ctx = `seed ${seed} ${c.name}`;
        expectSameChoice(a, ref!, ctx);
        expectClose(a.losses, ref!.losses, { atol: 0, rtol: 1e-4 }, `${ctx} losses`);
        expect([...(await a.scales.readF32())], `${ctx} best scales`).toEqual([...ref!.scales[a.bestIndex]].map(Math.fround));
        expect([...b.losses], `${ctx}: second run`).toEqual([...a.losses]);
        expect(await b.scales.readF32()).toEqual(await a.scales.readF32());
        expect(a.losses[a.bestIndex]).toBeLessThanOrEqual(a.losses[0]);
      });
    });
  }

  const mlpCases: Case[] = [
    { name: 'W4 channel, duo scaling', args: { numBits: 4, strategy: 'channel' }, duo: true, nGrid: 12 },
    { name: 'NVFP4 (tensor_group 16, gate/up share the global scale)', args: { numBits: 4, type: 'float', strategy: 'tensor_group', groupSize: 16, scaleDtype: 'float8_e4m3fn' }, duo: true, nGrid: 8 },
  ];
  for (const c of mlpCases) {
    it(`MLP parent (post_attention_layernorm → gate/up): ${c.name}`, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const [H, I, T] = [32, 48, 40];
      const wg = randn(I * H, seed, 1 / Math.sqrt(H));
      const wu = randn(I * H, seed + 1, 1 / Math.sqrt(H));
      const wd = randn(H * I, seed + 2, 1 / Math.sqrt(I));
      const x = activations(T, H, seed + 3);
      const args = withMemoryless(c.args);
      const grid = awqGridPoints(c.nGrid, c.duo);
      const x64 = Float64Array.from(x);
      const wd64 = Float64Array.from(wd);
      const layers64: ReferenceLayer[] = [
        { w: wg, rows: I, cols: H, args, fusedKey: 'gate_up' },
        { w: wu, rows: I, cols: H, args, fusedKey: 'gate_up' },
      ];
      const reference = (xMean: Float64Array, wMean: Float64Array) => referenceAwqSearch({
        xMean, wMean, grid, layers: layers64,
        parent: ([g, u]) => {
          const gy = linear(x64, T, H, Float64Array.from(g), I);
          const uy = linear(x64, T, H, Float64Array.from(u), I);
          for (let i = 0; i < gy.length; i++) gy[i] = (gy[i] / (1 + Math.exp(-gy[i]))) * uy[i];
          return linear(gy, T, I, wd64, H);
        },
      });
      await inErrorScope(hw, async () => {
        const root = new Module(['Root']);
        const mlp = root.addModule('mlp', ['LlamaMLP']);
        const gate = mlp.addModule('gate_proj', ['Linear']);
        const up = mlp.addModule('up_proj', ['Linear']);
        const downT = Tensor.fromData(hw, wd, [H, I], 'f32');
        gate.setParameter('weight', Tensor.fromData(hw, wg, [I, H], 'f32'));
        up.setParameter('weight', Tensor.fromData(hw, wu, [I, H], 'f32'));
        const xT = Tensor.fromData(hw, x, [T, H], 'f32');
        const { xSum, xMean, wMean } = await gpuMeans(hw, [xT], [{ t: await gate.getParameter('weight')!.get(), args }, { t: await up.getParameter('weight')!.get(), args }]);
        const ref = reference(xMean, wMean);
        const runParent = async (_b: number) => {
          const g = matmul(hw, xT, await gate.getParameter('weight')!.get(), { transposeB: true });
          const u = matmul(hw, xT, await up.getParameter('weight')!.get(), { transposeB: true });
          const m = siluMul(hw, g, u);
          g.dispose();
          u.dispose();
          const y = matmul(hw, m, downT, { transposeB: true });
          m.dispose();
          return y;
        };
        const fp = [await runParent(0)];
        const layers: SearchLayer[] = [];
        for (const mod of [gate, up]) layers.push({ module: mod, args, original: cloneTensor(hw, await mod.getParameter('weight')!.get()) });
        const got = await awqGridSearch(hw, { name: 'post_attention_layernorm', layers, xSum, tokens: T, cols: H, grid, dtype: 'f32', fpOutputs: fp, runParent });
        const ctx = `seed ${seed} ${c.name}`;
        expectSameChoice(got, ref, ctx);
        expectClose(got.losses, ref.losses, { atol: 0, rtol: 1e-4 }, `${ctx} losses`);
        expect([...(await got.scales.readF32())], `${ctx} best scales`).toEqual([...ref.scales[got.bestIndex]].map(Math.fround));
      });
    });
  }
});
