/**
 * The parent-module replay AWQ's search rests on: the inputs a forward_pre
 * hook saw (with the call's kwargs), packed into batches by ParentInputCache
 * (on the GPU or offloaded to host memory), and re-run through
 * `CausalLM.moduleForward` — which must give the outputs the full forward
 * produced, bit for bit, for the attention block, the MLP and single Linears,
 * also when several samples are packed into one batch.
 */
import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed, randn, rng } from '../helpers/random.js';
import { randomWeights, SMALL_CONFIGS } from '../models/synthetic.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { causalLMFromHostWeights } from '../../src/models/load.js';
import { parseLlamaConfig } from '../../src/models/llama/config.js';
import type { ModuleKwargs } from '../../src/models/causalLM.js';
import { ParentInputCache } from '../../src/modifiers/awq/cache.js';

const hardware = useHardware();

describe('ParentInputCache', () => {
  for (const offload of [false, true]) {
    it(`packs consecutive samples of one sequence length into batches of at most maxRows rows${offload ? ' (offloaded to host memory)' : ''}`, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const lengths = [8, 8, 5, 8, 8, 8];
      const xs = lengths.map((T, i) => randn(T * 12, seed + i));
      await inErrorScope(hw, async () => {
        const cache = new ParentInputCache(hw, offload);
        for (let i = 0; i < xs.length; i++) {
          const t = Tensor.fromData(hw, xs[i], [lengths[i], 12], 'f32');
          await cache.add(t, { shape: { batch: 1, seqLen: lengths[i] } });
          t.dispose(); // the cache holds its own copy
        }
        const batches = cache.batches(16);
        expect(batches.map((b) => [b.rows, b.kwargs.shape?.batch, b.kwargs.shape?.seqLen])).toEqual([[16, 2, 8], [5, 1, 5], [16, 2, 8], [8, 1, 8]]);
        const groups = [[0, 1], [2], [3, 4], [5]];
        for (let b = 0; b < batches.length; b++) {
          const t = batches[b].input();
          const want = groups[b].flatMap((i) => [...xs[i]]);
          expect([...(await t.readF32())]).toEqual(want);
          batches[b].done(t);
        }
        expect(cache.batches(16).length).toBe(4);
        await expect(cache.add(Tensor.empty(hw, [2, 12], 'f32'), undefined)).rejects.toThrow('batches were already formed');
        cache.dispose();
      });
    });
  }
});

describe('CausalLM.moduleForward replays hooked modules', () => {
  it('self_attn, mlp, o_proj and down_proj on their hooked inputs give the full forward’s outputs, also batched', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const c = parseLlamaConfig({ ...SMALL_CONFIGS['llama (llama3 RoPE scaling, attention and MLP bias, untied)'], num_hidden_layers: 1 }, 'tiny');
    const weights = randomWeights(c, seed);
    await inErrorScope(hw, async () => {
      const model = causalLMFromHostWeights(hw, c, (s) => weights.get(s.name)!);
      const names = ['model.layers.0.self_attn', 'model.layers.0.mlp', 'model.layers.0.self_attn.o_proj', 'model.layers.0.mlp.down_proj'];
      const seen = new Map<string, { x: Float32Array; shape: number[]; y: Float32Array; kwargs?: ModuleKwargs }[]>();
      for (const n of names) {
        const m = model.root.getModule(n)!;
        m.registerHook('forward', async (call) => {
          const list = seen.get(n) ?? [];
          seen.set(n, list);
          list.push({ x: (await call.inputs[0].readF32()).slice(), shape: [...call.inputs[0].shape], y: (await call.output!.readF32()).slice(), kwargs: call.kwargs as ModuleKwargs | undefined });
        });
      }
      const r = rng(seed);
      const T = 7;
      for (let s = 0; s < 2; s++) {
        const ids = Int32Array.from({ length: T }, () => Math.floor(r() * c.vocabSize));
        const h = await model.embed(ids, { batch: 1, seqLen: T });
        (await model.layerForward(0, h, { batch: 1, seqLen: T })).dispose();
        h.dispose();
      }
      expect(model.canRunModule!(model.root.getModule('model.layers.0.input_layernorm')!)).toBe(true);
      expect(model.canRunModule!(model.root.getModule('model.norm')!)).toBe(false);
      for (const n of names) {
        const m = model.root.getModule(n)!;
        const calls = seen.get(n)!;
        expect(calls.length, n).toBe(2);
        expect(calls[0].kwargs?.shape, n).toEqual(n.endsWith('self_attn') ? { batch: 1, seqLen: T } : undefined);
        await model.root.hooks.withHooksDisabled(async () => {
          for (const call of calls) {
            const x = Tensor.fromData(hw, call.x, call.shape, 'f32');
            const y = await model.moduleForward!(m, [x], call.kwargs);
            expect(await y.readF32(), `${n} replay`).toEqual(call.y);
          }
          // Two samples as one batch of two sequences.
          const both = Tensor.fromData(hw, Float32Array.of(...calls[0].x, ...calls[1].x), [2 * T, calls[0].shape[1]], 'f32');
          const y = await model.moduleForward!(m, [both], n.endsWith('self_attn') ? { shape: { batch: 2, seqLen: T } } : undefined);
          expect(await y.readF32(), `${n} batched`).toEqual(Float32Array.of(...calls[0].y, ...calls[1].y));
        });
      }
      await expect(model.moduleForward!(model.root.getModule('model.layers.0.self_attn')!, [Tensor.empty(hw, [T, c.hiddenSize], 'f32')])).rejects.toThrow('the sequence shape (kwargs.shape) is required for attention');
      await expect(model.moduleForward!(model.root.getModule('model.norm')!, [Tensor.empty(hw, [T, c.hiddenSize], 'f32')])).rejects.toThrow('model.norm (LlamaRMSNorm) cannot run on its own');
    });
  });
});
