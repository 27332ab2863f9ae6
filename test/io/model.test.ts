import { describe, it, expect } from 'vitest';
import { CheckpointError } from '../../src/io/errors.js';
import { MemoryFolder } from '../../src/io/folder.js';
import { parseModelConfig } from '../../src/io/model/config.js';
import { openModelFolder, readModelConfig, isCarriedFile, buildOutputConfig } from '../../src/io/model/folder.js';
import { safetensorsBytes } from './helpers.js';

const LLAMA3 = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 4096, intermediate_size: 14336, num_attention_heads: 32, num_key_value_heads: 8,
  num_hidden_layers: 32, vocab_size: 128256, max_position_embeddings: 131072, rms_norm_eps: 1e-5, rope_theta: 500000,
  rope_scaling: { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  tie_word_embeddings: false, torch_dtype: 'bfloat16', bos_token_id: 128000, eos_token_id: [128001, 128008, 128009],
};

describe('config.json', () => {
  it('parses sizes, GQA, rope_scaling (llama3), dtype, tied embeddings', () => {
    const c = parseModelConfig('config.json', LLAMA3);
    expect(c.architecture).toBe('LlamaForCausalLM');
    expect(c.headDim).toBe(128);
    expect(c.numKeyValueHeads).toBe(8);
    expect(c.rope.theta).toBe(500000);
    expect(c.rope.scaling).toMatchObject({ ropeType: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    expect(c.torchDtype).toBe('bfloat16');
    expect(c.tieWordEmbeddings).toBe(false);
    expect(c.eosTokenId).toEqual([128001, 128008, 128009]);
    expect(c.raw).toBe(LLAMA3);
  });
  it('understands legacy "type" and newer rope_parameters / dtype spellings', () => {
    const a = parseModelConfig('c', { ...LLAMA3, rope_scaling: { type: 'linear', factor: 2 } });
    expect(a.rope.scaling?.ropeType).toBe('linear');
    const { rope_theta: _t, rope_scaling: _s, torch_dtype: _d, ...rest } = LLAMA3;
    const b = parseModelConfig('c', { ...rest, dtype: 'float16', rope_parameters: { rope_type: 'yarn', factor: 4, rope_theta: 1e6, beta_fast: 32 } });
    expect(b.rope.theta).toBe(1e6);
    expect(b.rope.scaling).toMatchObject({ ropeType: 'yarn', factor: 4, betaFast: 32 });
    expect(b.torchDtype).toBe('float16');
    expect(parseModelConfig('c', { ...LLAMA3, rope_scaling: { rope_type: 'default' } }).rope.scaling).toBeNull();
  });
  it('names the file and field of every bad value', () => {
    const bad = (o: unknown, ...parts: string[]) => {
      let err: unknown;
      try {
        parseModelConfig('m/config.json', o);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CheckpointError);
      for (const p of ['m/config.json', ...parts]) expect((err as Error).message).toContain(p);
    };
    bad([1], 'not a JSON object');
    const { hidden_size: _h, ...noHidden } = LLAMA3;
    bad(noHidden, 'hidden_size', 'missing');
    bad({ ...LLAMA3, num_attention_heads: '32' }, 'num_attention_heads', 'integer');
    bad({ ...LLAMA3, num_key_value_heads: 5 }, 'num_key_value_heads', 'does not divide');
    bad({ ...LLAMA3, tie_word_embeddings: 'yes' }, 'tie_word_embeddings');
    bad({ ...LLAMA3, rope_scaling: { rope_type: 'llama3', factor: 'big' } }, 'rope_scaling.factor');
    bad({ ...LLAMA3, architectures: undefined, model_type: undefined }, 'cannot tell the architecture');
  });
});

describe('model folders', () => {
  it('config.json missing or unparsable is a clear error', async () => {
    await expect(readModelConfig(new MemoryFolder('m'))).rejects.toThrow(/m\/config\.json: is missing/);
    await expect(readModelConfig(new MemoryFolder('m', { 'config.json': '{"hidden_size": 4,' }))).rejects.toThrow(/m\/config\.json: is not valid JSON/);
    await expect(readModelConfig(new MemoryFolder('m', { 'config.json': new Uint8Array([0x7b, 0xff, 0x7d]) }))).rejects.toThrow(/not valid UTF-8/);
  });
  it('opens config, weights and the list of carried files', async () => {
    const weights = await safetensorsBytes([{ name: 'model.norm.weight', dtype: 'F32', shape: [2], data: new Float32Array(2) }]);
    const folder = new MemoryFolder('m', {
      'config.json': JSON.stringify(LLAMA3), 'model.safetensors': weights, 'tokenizer.json': '{}', 'tokenizer_config.json': '{}', 'generation_config.json': '{}',
      'chat_template.jinja': '', 'README.md': '#', 'pytorch_model.bin': 'x',
    });
    const m = await openModelFolder(folder);
    expect(m.weights.tensors.map((t) => t.name)).toEqual(['model.norm.weight']);
    expect(m.carriedFiles).toEqual(['chat_template.jinja', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']);
    expect(isCarriedFile('tokenizer.model')).toBe(true);
    expect(isCarriedFile('model.safetensors')).toBe(false);
  });
  it('the output config keeps every key, sorted, and gains quantization_config', () => {
    const text = buildOutputConfig(LLAMA3, { quant_method: 'compressed-tensors' });
    const parsed = JSON.parse(text);
    expect(parsed).toEqual({ ...LLAMA3, quantization_config: { quant_method: 'compressed-tensors' } });
    expect(text.endsWith('}\n')).toBe(true);
    const keys = [...text.matchAll(/^ {2}"([^"]+)"/gm)].map((m) => m[1]);
    expect(keys).toEqual([...keys].sort());
  });
});
