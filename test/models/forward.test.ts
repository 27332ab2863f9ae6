import { describe, it, expect } from 'vitest';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed, rng } from '../helpers/random.js';
import { causalLMFromHostWeights } from '../../src/models/load.js';
import { LlamaReference } from '../../src/models/reference/llama.js';
import { rmsNorm as refRmsNorm } from '../../src/models/reference/llama.js';
import { parseLlamaConfig, ModelConfigError } from '../../src/models/llama/config.js';
import { generateGreedy } from '../../src/models/generate.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { SMALL_CONFIGS, smallConfig, randomWeights } from './synthetic.js';
import { relMaxError } from './helpers.js';

const hardware = useHardware();

function randomIds(n: number, vocab: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * vocab));
}

/** Full forward: logits [batch·T, V] read back. */
async function gpuLogits(model: ReturnType<typeof causalLMFromHostWeights>, ids: Int32Array, batch: number, T: number): Promise<Float32Array> {
  const shape = { batch, seqLen: T };
  let h = await model.embed(ids, shape);
  for (let i = 0; i < model.numLayers; i++) {
    const next = await model.layerForward(i, h, shape);
    h.dispose();
    h = next;
  }
  const logits = await model.logits(h);
  h.dispose();
  const out = await logits.readF32();
  logits.dispose();
  return out;
}

describe('Llama-family forward vs float64 reference', () => {
  for (const key of Object.keys(SMALL_CONFIGS)) {
    it(`${key}: logits of a batch of 2 sequences, rel. error ≤ 1e-4`, async () => {
      const hw = await hardware();
      const seed = freshSeed();
      const config = smallConfig(key);
      const weights = randomWeights(config, seed);
      const T = 13;
      const ids = randomIds(2 * T, config.vocabSize, seed + 1);
      const ref = new LlamaReference(config, (n) => weights.get(n)!);
      await inErrorScope(hw, async () => {
        const model = causalLMFromHostWeights(hw, config, (s) => weights.get(s.name)!);
        const got = await gpuLogits(model, ids, 2, T);
        for (let b = 0; b < 2; b++) {
          const want = ref.logits(ids.subarray(b * T, (b + 1) * T));
          const err = relMaxError(got.subarray(b * T * config.vocabSize, (b + 1) * T * config.vocabSize), want);
          expect(err, `seed ${seed}, sequence ${b}: relative error ${err}`).toBeLessThanOrEqual(1e-4);
        }
        await model.dispose?.();
      });
    });
  }

  it('runs with the embedding and lm_head split into several buffers (tables past one binding)', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const config = smallConfig('llama (llama3 RoPE scaling, attention and MLP bias, untied)');
    const weights = randomWeights(config, seed);
    const T = 9;
    const ids = randomIds(T, config.vocabSize, seed + 1);
    const want = new LlamaReference(config, (n) => weights.get(n)!).logits(ids);
    await inErrorScope(hw, async () => {
      // 12-row chunks (vocabulary 100 → 9 chunks); matmul needs chunk rows in multiples of 4.
      const model = causalLMFromHostWeights(hw, config, (s) => weights.get(s.name)!, {
        tensorOptions: (s) => (s.kind === 'embedding' || s.name === 'lm_head.weight' ? { maxChunkBytes: 12 * config.hiddenSize * 4 } : undefined),
      });
      const emb = await model.embedModule.getParameter('weight')!.get();
      expect(emb.chunks.length).toBe(9);
      const got = await gpuLogits(model, ids, 1, T);
      expect(relMaxError(got, want), `seed ${seed}`).toBeLessThanOrEqual(1e-4);
      await model.dispose?.();
    });
  });

  it('next-token NLL (row blocks of logits) matches the reference', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const config = smallConfig('qwen2 (q/k/v bias)');
    const weights = randomWeights(config, seed);
    const T = 17;
    const ids = randomIds(3 * T, config.vocabSize, seed + 1);
    const ref = new LlamaReference(config, (n) => weights.get(n)!);
    await inErrorScope(hw, async () => {
      const model = causalLMFromHostWeights(hw, config, (s) => weights.get(s.name)!);
      const shape = { batch: 3, seqLen: T };
      let h = await model.embed(ids, shape);
      for (let i = 0; i < model.numLayers; i++) h = await model.layerForward(i, h, shape);
      const nll = await (await model.nextTokenNll(h, ids, shape)).readF32();
      for (let b = 0; b < 3; b++) {
        const want = ref.nextTokenNll(ids.subarray(b * T, (b + 1) * T));
        for (let t = 0; t < T - 1; t++) expect(Math.abs(nll[b * T + t] - want[t]), `seed ${seed} seq ${b} pos ${t}`).toBeLessThanOrEqual(1e-4 * Math.max(1, want[t]));
        expect(nll[b * T + T - 1]).toBe(0);
      }
      await model.dispose?.();
    });
  });

  it('greedy generation with the KV cache matches the reference token for token', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const config = smallConfig('llama (llama3 RoPE scaling, attention and MLP bias, untied)');
    const weights = randomWeights(config, seed);
    const prompt = Array.from(randomIds(5, config.vocabSize, seed + 1));
    const ref = new LlamaReference(config, (n) => weights.get(n)!);
    const want = ref.generateGreedy(prompt, 20);
    await inErrorScope(hw, async () => {
      const model = causalLMFromHostWeights(hw, config, (s) => weights.get(s.name)!);
      const got = await generateGreedy(model, prompt, { maxNewTokens: 20 });
      expect(got, `seed ${seed}`).toEqual(want);
      await model.dispose?.();
    });
  });
});

describe('module tree and hooks', () => {
  it('has Hugging Face names and class names', async () => {
    const hw = await hardware();
    const config = smallConfig('qwen3 (q/k norm, head_dim ≠ hidden/heads)');
    const weights = randomWeights(config, 1);
    const model = causalLMFromHostWeights(hw, config, (s) => weights.get(s.name)!);
    const names = [...model.root.modules()].map((m) => `${m.name}:${m.classNames[0]}`);
    expect(names).toContain('model.layers.1.self_attn.q_proj:Linear');
    expect(names).toContain('model.layers.0:Qwen3DecoderLayer');
    expect(names).toContain('model.layers.0.self_attn.k_norm:Qwen3RMSNorm');
    expect(names).toContain('model.layers.0.mlp:Qwen3MLP');
    expect(names).toContain('lm_head:Linear');
    expect(names[0]).toBe(':Qwen3ForCausalLM');
    const params = [...model.root.namedParameters()].map(([n]) => n);
    expect(params).toContain('model.layers.0.self_attn.q_norm.weight');
    // Tied embeddings: lm_head shares the embedding's parameter.
    expect(model.root.getModule('lm_head')!.getParameter('weight')).toBe(model.root.getModule('model.embed_tokens')!.getParameter('weight'));
    expect(model.defaultSequentialTargets).toEqual(['Qwen3DecoderLayer']);
  });

  it('hooks receive module inputs and outputs on the GPU and can be disabled', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    const config = smallConfig('llama');
    const weights = randomWeights(config, seed);
    const T = 9;
    const ids = randomIds(T, config.vocabSize, seed + 1);
    await inErrorScope(hw, async () => {
      const model = causalLMFromHostWeights(hw, config, (s) => weights.get(s.name)!);
      const seen: { name: string; kind: string; input: Float32Array; output?: Float32Array }[] = [];
      const record = (t: Tensor | undefined) => (t ? t.readF32() : Promise.resolve(undefined));
      const q = model.root.getModule('model.layers.0.self_attn.q_proj')!;
      const layer1 = model.root.getModule('model.layers.1')!;
      const handles = [
        q.registerHook('forward', async (c) => { seen.push({ name: c.module.name, kind: c.kind, input: (await record(c.inputs[0]))!, output: await record(c.output) }); }),
        layer1.registerHook('forward_pre', async (c) => { seen.push({ name: c.module.name, kind: c.kind, input: (await record(c.inputs[0]))! }); }),
        model.root.getModule('model.layers.0.self_attn')!.registerHook('key', async (c) => { seen.push({ name: 'key', kind: c.kind, input: (await record(c.inputs[0]))! }); }),
      ];
      const shape = { batch: 1, seqLen: T };
      const run = async () => {
        let h = await model.embed(ids, shape);
        for (let i = 0; i < model.numLayers; i++) h = await model.layerForward(i, h, shape);
        return h;
      };
      await run();
      expect(seen.map((s) => `${s.name}/${s.kind}`)).toEqual(['model.layers.0.self_attn.q_proj/forward', 'key/key', 'model.layers.1/forward_pre']);
      // q_proj's input is input_layernorm(embeddings).
      const emb = new Float64Array(T * config.hiddenSize);
      ids.forEach((id, t) => emb.set(weights.get('model.embed_tokens.weight')!.subarray(id * config.hiddenSize, (id + 1) * config.hiddenSize), t * config.hiddenSize));
      const x = refRmsNorm(emb, T, config.hiddenSize, Float64Array.from(weights.get('model.layers.0.input_layernorm.weight')!), config.rmsNormEps);
      expect(relMaxError(seen[0].input, x)).toBeLessThan(1e-5);
      expect(seen[0].output!.length).toBe(T * config.numAttentionHeads * config.headDim);
      expect(seen[1].input.length).toBe(T * config.numKeyValueHeads * config.headDim);
      expect(seen[2].input.length).toBe(T * config.hiddenSize);

      seen.length = 0;
      await model.root.hooks.withHooksDisabled(run);
      expect(seen).toEqual([]);
      handles.forEach((h) => h.remove());
      await run();
      expect(seen).toEqual([]);
      await model.dispose?.();
    });
  });

  it('releases a layer\'s weights and reloads them on the next forward', async () => {
    const hw = await hardware();
    const config = smallConfig('llama');
    const weights = randomWeights(config, 5);
    let loads = 0;
    const model = causalLMFromHostWeights(hw, config, (s) => {
      loads++;
      return weights.get(s.name)!;
    });
    const shape = { batch: 1, seqLen: 4 };
    const ids = Int32Array.of(1, 2, 3, 4);
    const h = await model.embed(ids, shape);
    await model.layerForward(0, h, shape);
    const afterFirst = loads;
    expect(afterFirst).toBe(1 + 9);
    model.releaseLayer(0);
    expect([...model.decoderLayers[0].modules()].flatMap((m) => [...m.parameters.values()]).some((p) => p.resident)).toBe(false);
    await model.layerForward(0, h, shape);
    expect(loads).toBe(afterFirst + 9);
    await model.dispose?.();
  });
});

describe('config.json validation', () => {
  const base = SMALL_CONFIGS.llama;
  it.each([
    [{ architectures: ['GPT2LMHeadModel'] }, /architectures: "GPT2LMHeadModel" is not supported/],
    [{ hidden_act: 'gelu' }, /hidden_act: "gelu" is not supported/],
    [{ rope_scaling: { rope_type: 'yarn', factor: 4 } }, /rope_scaling.rope_type: "yarn" is not supported/],
    [{ num_local_experts: 8 }, /num_local_experts: mixture-of-experts/],
    [{ partial_rotary_factor: 0.5 }, /partial_rotary_factor/],
    [{ num_key_value_heads: 3 }, /num_key_value_heads: 3 does not divide/],
  ])('rejects %j', (patch, message) => {
    expect(() => parseLlamaConfig({ ...base, ...patch }, 'm/config.json')).toThrow(ModelConfigError);
    expect(() => parseLlamaConfig({ ...base, ...patch }, 'm/config.json')).toThrow(message);
  });
});
