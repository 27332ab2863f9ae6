import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { randn, rng, freshSeed } from '../helpers/random.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { fillWords } from '../../src/gpu/kernels/elementwise.js';
import { makeQuantizationArgs, type QuantizationArgs, type QuantizationArgsInput } from '../../src/quantization/args.js';
import { presetScheme } from '../../src/quantization/presets.js';
import { fakeQuantizeInput, setInputQuantization, inputQuantizationOf, INPUT_PARAMETER_NAMES, type InputQuantizationParams } from '../../src/quantization/inputQuantization.js';
import { causalLMFromHostWeights } from '../../src/models/load.js';
import { LlamaReference } from '../../src/models/reference/llama.js';
import { expandIncludes } from '../../scripts/bundle-shaders.mjs';
import { smallConfig, randomWeights } from './synthetic.js';
import { relMaxError } from './helpers.js';
import { referenceFakeQuantizeInput, type ReferenceInputParams } from './actquantReference.js';

const hardware = useHardware();

/** Activations ~ N(0, 1) with a few outliers (×30), an all-zero row, and rows whose absmax is negative (a −127.5 tie for int8). */
function activations(rows: number, cols: number, seed: number): Float32Array {
  const x = randn(rows * cols, seed);
  const r = rng(seed + 1);
  for (let k = 0; k < Math.max(1, (rows * cols) >> 7); k++) x[Math.floor(r() * rows * cols)] *= 30;
  if (rows > 2) x.fill(0, cols, 2 * cols);
  for (let row = 0; row < rows; row += 3) {
    let at = row * cols;
    for (let c = 0; c < cols; c++) if (Math.abs(x[row * cols + c]) > Math.abs(x[at])) at = row * cols + c;
    x[at] = -Math.abs(x[at]);
  }
  return x;
}

/** Bit-exact comparison (NaN equals NaN; +0 and −0 are distinct). */
function expectSameValues(got: Float32Array, want: Float64Array, context: string): void {
  expect(got.length, context).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], Math.fround(want[i]))) throw new Error(`${context}: element ${i} (row ${'?'}) is ${got[i]}, want ${want[i]}`);
  }
}

interface Case {
  name: string;
  args: QuantizationArgsInput;
  shapes: [number, number][];
  params?: (x: Float32Array) => ReferenceInputParams;
}

const tensorAbsMax = (x: Float32Array): number => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

const CASES: Case[] = [
  { name: 'int8 token sym (W8A8)', args: presetScheme('W8A8').inputActivations!, shapes: [[5, 64], [3, 70], [2, 2048], [1, 12]] },
  { name: 'int8 token asym', args: { numBits: 8, type: 'int', strategy: 'token', dynamic: true, symmetric: false }, shapes: [[6, 96], [3, 37]] },
  { name: 'int4 token (W4A4)', args: presetScheme('W4A4').inputActivations!, shapes: [[4, 128]] },
  { name: 'fp8 token (FP8_DYNAMIC)', args: presetScheme('FP8_DYNAMIC').inputActivations!, shapes: [[5, 64], [3, 70]] },
  { name: 'fp8 group 128 (FP8_BLOCK)', args: presetScheme('FP8_BLOCK').inputActivations!, shapes: [[3, 384], [1, 128]] },
  { name: 'int8 group 6 asym (scalar loads)', args: { numBits: 8, type: 'int', strategy: 'group', groupSize: 6, dynamic: true, symmetric: false }, shapes: [[3, 42]] },
  { name: 'MXFP4 group 32', args: presetScheme('MXFP4').inputActivations!, shapes: [[3, 96]] },
  { name: 'int8 tensor dynamic', args: { numBits: 8, type: 'int', strategy: 'tensor', dynamic: true }, shapes: [[7, 100], [3, 37]] },
  {
    name: 'fp8 tensor static (FP8)', args: presetScheme('FP8').inputActivations!, shapes: [[5, 64], [3, 70]],
    // A calibrated scale smaller than this input's range, so some values clamp.
    params: (x) => ({ scale: Math.fround((0.6 * tensorAbsMax(x)) / 448) }),
  },
  {
    name: 'int8 tensor static asym', args: { numBits: 8, type: 'int', strategy: 'tensor', dynamic: false, symmetric: false }, shapes: [[4, 64], [3, 41]],
    params: (x) => ({ scale: Math.fround(tensorAbsMax(x) / 200), zeroPoint: -7 }),
  },
  {
    name: 'NVFP4 tensor_group 16 (dynamic local, static global scale)', args: presetScheme('NVFP4').inputActivations!, shapes: [[4, 64], [3, 48]],
    params: (x) => ({ globalScale: Math.fround(2688 / tensorAbsMax(x)) }),
  },
];

async function runCase(hwP: ReturnType<typeof useHardware>, args: QuantizationArgs, x: Float32Array, rows: number, cols: number, p: ReferenceInputParams, opts: { jitter?: boolean; maxChunkBytes?: number } = {}): Promise<Float32Array> {
  const hw = await hwP();
  const xt = Tensor.fromData(hw, x, [rows, cols], 'f32', { maxChunkBytes: opts.maxChunkBytes });
  const out = Tensor.empty(hw, [rows, cols], 'f32', { maxChunkBytes: opts.maxChunkBytes });
  fillWords(hw, out);
  const params: InputQuantizationParams = {
    scale: p.scale === undefined ? undefined : Tensor.fromData(hw, Float32Array.of(p.scale), [1], 'f32'),
    zeroPoint: p.zeroPoint === undefined ? undefined : Tensor.fromData(hw, Int32Array.of(p.zeroPoint), [1], 'i32'),
    globalScale: p.globalScale === undefined ? undefined : Tensor.fromData(hw, Float32Array.of(p.globalScale), [1], 'f32'),
  };
  fakeQuantizeInput(hw, xt, { args }, params, { out, simulateInexactDivision: opts.jitter });
  const got = await out.readF32();
  for (const t of [xt, out, params.scale, params.zeroPoint, params.globalScale]) t?.dispose();
  return got;
}

describe('fakeQuantizeInput (shaders/actquant.wgsl) equals the float64 reference of compressed-tensors', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const hw = await hardware();
      const args = makeQuantizationArgs(c.args, c.name);
      const seed = freshSeed();
      await inErrorScope(hw, async () => {
        for (const [rows, cols] of c.shapes) {
          const x = activations(rows, cols, seed + rows * 1000 + cols);
          const p = c.params?.(x) ?? {};
          const want = referenceFakeQuantizeInput(x, rows, cols, args, p);
          const ctx = `${c.name} [${rows}, ${cols}] seed ${seed}`;
          expectSameValues(await runCase(hardware, args, x, rows, cols, p), want, ctx);
          // The exact-division fallback gives the same values when the hardware quotient is off by ±2 ulp.
          expectSameValues(await runCase(hardware, args, x, rows, cols, p, { jitter: true }), want, `${ctx} (inexact division)`);
          // And it changed something: the values are on the quantization grid, not the input.
          expect(want.some((v, i) => v !== x[i]), ctx).toBe(true);
        }
      });
    });
  }

  it('row-chunked inputs: per-token and dynamic per-tensor over several buffers', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const [rows, cols] = [13, 64];
    const x = activations(rows, cols, seed);
    await inErrorScope(hw, async () => {
      for (const a of [presetScheme('W8A8').inputActivations!, makeQuantizationArgs({ numBits: 8, type: 'float', strategy: 'tensor', dynamic: true })]) {
        const want = referenceFakeQuantizeInput(x, rows, cols, a, {});
        // 4 rows per chunk: 4 buffers.
        expectSameValues(await runCase(hardware, a, x, rows, cols, {}, { maxChunkBytes: 4 * cols * 4 }), want, `${a.strategy} chunked, seed ${seed}`);
      }
    });
  });

  it('NaN and Inf: a dynamic group holding one is all NaN; a static scale clamps Inf and keeps NaN', async () => {
    const hw = await hardware();
    const [rows, cols] = [3, 32];
    const x = randn(rows * cols, freshSeed());
    x[5] = NaN;
    x[cols + 7] = Infinity;
    x[2 * cols + 1] = -Infinity;
    await inErrorScope(hw, async () => {
      const token = presetScheme('W8A8').inputActivations!;
      const gotT = await runCase(hardware, token, x, rows, cols, {});
      expect(gotT.every(Number.isNaN)).toBe(true);
      expectSameValues(gotT, referenceFakeQuantizeInput(x, rows, cols, token), 'token with NaN/Inf');
      const fp8 = presetScheme('FP8').inputActivations!;
      const p = { scale: Math.fround(0.01) };
      const gotS = await runCase(hardware, fp8, x, rows, cols, p);
      expect(Number.isNaN(gotS[5])).toBe(true);
      expect(gotS[cols + 7]).toBe(Math.fround(448 * p.scale));
      expect(gotS[2 * cols + 1]).toBe(-Math.fround(448 * p.scale));
      expectSameValues(gotS, referenceFakeQuantizeInput(x, rows, cols, fp8, p), 'static with NaN/Inf');
    });
  });

  it('rejects what it cannot apply, naming the tensor', async () => {
    const hw = await hardware();
    const x = Tensor.fromData(hw, new Float32Array(3 * 40), [3, 40], 'f32');
    const block = presetScheme('FP8_BLOCK').inputActivations!;
    expect(() => fakeQuantizeInput(hw, x, { args: block }, {}, { name: 'model.layers.0.mlp.down_proj' })).toThrow(/model\.layers\.0\.mlp\.down_proj: 40 input features are not a multiple of the input group_size 128/);
    expect(() => fakeQuantizeInput(hw, x, { args: presetScheme('FP8').inputActivations! }, {}, { name: 'L' })).toThrow(/L: input_scale is required/);
    expect(() => fakeQuantizeInput(hw, x, { args: presetScheme('NVFP4').inputActivations! }, {}, { name: 'L' })).toThrow(/multiple of the input group_size 16/);
    const staticGroup = makeQuantizationArgs({ numBits: 8, strategy: 'group', groupSize: 8, dynamic: false });
    expect(() => fakeQuantizeInput(hw, x, { args: staticGroup }, {}, { name: 'L' })).toThrow(/strategy "group" is supported for dynamic input quantization only/);
    x.dispose();
  });
});

describe('shader #include (scripts/bundle-shaders.mjs)', () => {
  it('inlines nested includes once, and names the file and line of a missing one or a cycle', () => {
    const files: Record<string, string> = { 'lib/a.wgsl': '#include "lib/b.wgsl"\nfn a() {}', 'lib/b.wgsl': 'fn b() {}', 'lib/c.wgsl': '#include "lib/c.wgsl"' };
    const read = (p: string) => files[p];
    const out = expandIncludes('#include "lib/a.wgsl"\n#include "lib/b.wgsl"\nfn main() {}', 'k.wgsl', read);
    expect(out.match(/fn b\(\)/g)).toHaveLength(1);
    expect(out.indexOf('fn b()')).toBeLessThan(out.indexOf('fn a()'));
    expect(out).toContain('fn main() {}');
    expect(() => expandIncludes('x\n#include "lib/none.wgsl"', 'k.wgsl', read)).toThrow(/shaders\/k\.wgsl:2: #include "lib\/none\.wgsl": no such file/);
    expect(() => expandIncludes('#include "lib/c.wgsl"', 'k.wgsl', read)).toThrow(/lib\/c\.wgsl:1: #include cycle k\.wgsl -> lib\/c\.wgsl -> lib\/c\.wgsl/);
    expect(() => expandIncludes('#include lib/a.wgsl', 'k.wgsl', read)).toThrow(/k\.wgsl:1: malformed #include/);
  });
});

describe('Llama forward with input quantization on its Linears', () => {
  const config = smallConfig('llama');
  const linears = (prefix: string) => ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'].map((n) => `${prefix}.${n}`);
  const layerLinears = Array.from({ length: config.numHiddenLayers }, (_, i) => linears(`model.layers.${i}`)).flat();

  for (const preset of ['W8A8', 'FP8', 'NVFP4']) {
    it(`${preset}: logits match the float64 reference forward with the same activation quantization`, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const weights = randomWeights(config, seed);
      const args = presetScheme(preset).inputActivations!;
      const T = 11;
      const r = rng(seed + 5);
      const ids = Int32Array.from({ length: T }, () => Math.floor(r() * config.vocabSize));
      // Static values per module (a fixed input_scale clamps the larger activations).
      const statics = new Map<string, ReferenceInputParams>();
      layerLinears.forEach((name, i) => {
        if (preset === 'FP8') statics.set(name, { scale: Math.fround((2 + 0.1 * i) / 448) });
        if (preset === 'NVFP4') statics.set(name, { globalScale: Math.fround(2688 / (3 + 0.2 * i)) });
      });
      await inErrorScope(hw, async () => {
        const model = causalLMFromHostWeights(hw, config, (s) => weights.get(s.name)!);
        // What each Linear's hooks receive: the raw input, as the GPU computed it.
        const seen = new Map<string, Float32Array>();
        for (const name of layerLinears) {
          const m = model.root.getModule(name)!;
          const s = statics.get(name);
          if (s?.scale !== undefined) m.setParameter(INPUT_PARAMETER_NAMES.scale, Tensor.fromData(hw, Float32Array.of(s.scale), [1], 'f32'));
          if (s?.globalScale !== undefined) m.setParameter(INPUT_PARAMETER_NAMES.globalScale, Tensor.fromData(hw, Float32Array.of(s.globalScale), [1], 'f32'));
          setInputQuantization(m, { args });
          m.registerHook('forward_pre', async (c) => {
            seen.set(name, await c.inputs[0].readF32());
          });
        }
        expect(inputQuantizationOf(model.root.getModule('model.embed_tokens')!)).toBeUndefined();
        const shape = { batch: 1, seqLen: T };
        let h = await model.embed(ids, shape);
        for (let i = 0; i < model.numLayers; i++) {
          const next = await model.layerForward(i, h, shape);
          h.dispose();
          h = next;
        }
        const got = await (await model.logits(h)).readF32();

        // The reference quantizes the GPU's own Linear inputs: quantization is a step function, and f32 and float64
        // activations land on different sides of a step now and then (every row's absmax sits on a tie), which
        // would swamp the comparison; the kernel itself is checked bit-exactly above.
        const rawErrors: number[] = [];
        const reference = (quantize: boolean) => new LlamaReference(config, (n) => weights.get(n)!, (module, x, rows, cols) => {
          if (!layerLinears.includes(module)) return undefined;
          const gpuInput = seen.get(module)!;
          rawErrors.push(relMaxError(gpuInput, x));
          return quantize ? referenceFakeQuantizeInput(gpuInput, rows, cols, args, statics.get(module)) : undefined;
        });
        const want = reference(true).logits(ids);
        // Hooks saw the raw input: it matches the reference's unquantized activations.
        expect(Math.max(...rawErrors), `${preset}: hook inputs vs the reference's raw activations`).toBeLessThan(1e-4);
        const dense = reference(false).logits(ids);
        const quantEffect = relMaxError(dense, want);
        expect(quantEffect, `${preset}: quantization changes the logits`).toBeGreaterThan(1e-3);
        expect(relMaxError(got, want), `${preset} seed ${seed} (quantization effect ${quantEffect})`).toBeLessThan(1e-4);
        await model.dispose?.();
      });
    });
  }
});
