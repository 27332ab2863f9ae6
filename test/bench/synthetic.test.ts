// The synthetic model generator (bench/synthetic.ts): a tiny model written to
// disk parses with src/io, has the Llama tensor set with the right shapes and
// dtype, random (never all-zero) values, and is byte-identical for a seed.
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseModelConfig } from '../../src/io/model/config.js';
import { openSafetensorsDir } from '../../src/io/node/index.js';
import { createTokenizer } from '../../src/data/tokenizer.js';
import { SYNTHETIC_SIZES, fallbackTokenizer, syntheticLinearParameterCount, syntheticParameterCount, syntheticTensors, writeSyntheticModel } from '../../bench/synthetic.js';

const root = mkdtempSync(join(tmpdir(), 'wgc-synthetic-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const tiny = SYNTHETIC_SIZES.tiny;
const storiesPresent = existsSync(resolve(__dirname, '..', '..', '..', 'shared', 'models', 'stories260K', 'tokenizer.json'));

describe('synthetic tiny model', async () => {
  const a = await writeSyntheticModel(join(root, 'a'), { size: 'tiny', seed: 7 });
  const b = await writeSyntheticModel(join(root, 'b'), { size: 'tiny', seed: 7 });
  const c = await writeSyntheticModel(join(root, 'c'), { size: 'tiny', seed: 8 });

  it('config.json parses with src/io and describes the shape', () => {
    const cfg = parseModelConfig('config.json', JSON.parse(readFileSync(join(a.dir, 'config.json'), 'utf8')));
    expect(cfg.architecture).toBe('LlamaForCausalLM');
    expect(cfg.hiddenSize).toBe(tiny.hiddenSize);
    expect(cfg.intermediateSize).toBe(tiny.intermediateSize);
    expect(cfg.numHiddenLayers).toBe(tiny.numHiddenLayers);
    expect(cfg.numAttentionHeads).toBe(tiny.numAttentionHeads);
    expect(cfg.numKeyValueHeads).toBe(tiny.numKeyValueHeads);
    expect(cfg.headDim).toBe(tiny.headDim);
    expect(cfg.vocabSize).toBe(tiny.vocabSize);
  });

  it('holds every Llama tensor with its shape, in BF16', async () => {
    const store = await openSafetensorsDir(a.dir);
    try {
      const want = syntheticTensors(tiny);
      expect(store.tensors.map((t) => t.name).sort()).toEqual(want.map((t) => t.name).sort());
      for (const t of want) {
        const info = store.info(t.name);
        expect(info.dtype).toBe('BF16');
        expect(info.shape).toEqual([...t.shape]);
      }
      expect(store.info('model.layers.1.self_attn.k_proj.weight').shape).toEqual([tiny.numKeyValueHeads * tiny.headDim, tiny.hiddenSize]);
      expect(store.info('model.layers.0.mlp.down_proj.weight').shape).toEqual([tiny.hiddenSize, tiny.intermediateSize]);
      expect(store.has('lm_head.weight')).toBe(false); // tied
      expect(a.parameters).toBe(syntheticParameterCount(tiny));
      expect(a.bytes).toBe(2 * a.parameters);
    } finally {
      await store.close();
    }
  });

  it('values are random, centred weights (std ≈ 0.02) and norms around 1', async () => {
    const store = await openSafetensorsDir(a.dir);
    try {
      const w = await store.readF32('model.layers.0.self_attn.q_proj.weight');
      let sum = 0;
      let sq = 0;
      let zeros = 0;
      let nonFinite = 0;
      for (const x of w) {
        sum += x;
        sq += x * x;
        if (x === 0) zeros++;
        if (!Number.isFinite(x)) nonFinite++;
      }
      expect(nonFinite).toBe(0);
      const mean = sum / w.length;
      const std = Math.sqrt(sq / w.length - mean * mean);
      expect(Math.abs(mean)).toBeLessThan(0.002);
      expect(std).toBeGreaterThan(0.017);
      expect(std).toBeLessThan(0.023);
      expect(zeros / w.length).toBeLessThan(0.01);
      const norm = await store.readF32('model.norm.weight');
      expect(Math.max(...Array.from(norm, (x) => Math.abs(x - 1)))).toBeLessThanOrEqual(0.0501);
      expect(new Set(norm).size).toBeGreaterThan(10);
    } finally {
      await store.close();
    }
  });

  it('the same seed gives byte-identical files; another seed different weights', () => {
    const files = readdirSync(a.dir).sort();
    expect(files).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    for (const f of files) expect(readFileSync(join(b.dir, f)).equals(readFileSync(join(a.dir, f)))).toBe(true);
    expect(readFileSync(join(c.dir, 'model.safetensors')).equals(readFileSync(join(a.dir, 'model.safetensors')))).toBe(false);
    expect(readFileSync(join(c.dir, 'config.json')).equals(readFileSync(join(a.dir, 'config.json')))).toBe(true);
  });

  it.skipIf(!storiesPresent)('copies stories260K’s tokenizer when /work/shared has it', () => {
    expect(a.tokenizerVocab).toBe(512);
  });
});

describe('synthetic variants', () => {
  it('F32 output and the fallback tokenizer (machines without /work/shared)', async () => {
    const m = await writeSyntheticModel(join(root, 'f32'), { size: 'tiny', seed: 1, dtype: 'F32', tokenizerFrom: false });
    const store = await openSafetensorsDir(m.dir);
    try {
      expect(store.info('model.embed_tokens.weight').dtype).toBe('F32');
      expect(m.bytes).toBe(4 * m.parameters);
    } finally {
      await store.close();
    }
    const tok = createTokenizer(readFileSync(join(m.dir, 'tokenizer.json'), 'utf8'), JSON.parse(readFileSync(join(m.dir, 'tokenizer_config.json'), 'utf8')));
    expect(tok.vocabSize).toBe(m.tokenizerVocab);
    expect(tok.encode('Hi')).toEqual([1, tok.tokenToId('H'), tok.tokenToId('i')]);
  });

  it('the fallback tokenizer is deterministic', () => {
    expect(JSON.stringify(fallbackTokenizer())).toBe(JSON.stringify(fallbackTokenizer()));
  });

  it('refuses to replace a folder without overwrite', async () => {
    await expect(writeSyntheticModel(join(root, 'a'), { size: 'tiny', seed: 7 })).rejects.toThrow(/not empty/);
  });

  it('sizes have the parameter counts their names say', () => {
    const p = (s: keyof typeof SYNTHETIC_SIZES) => syntheticParameterCount(SYNTHETIC_SIZES[s]);
    expect(p('125m') / 1e6).toBeGreaterThan(110);
    expect(p('125m') / 1e6).toBeLessThan(140);
    expect(p('1b') / 1e9).toBeCloseTo(1.236, 2);
    expect(p('3b') / 1e9).toBeCloseTo(3.21, 1);
    expect(p('8b') / 1e9).toBeCloseTo(8.03, 1);
    expect(syntheticLinearParameterCount(SYNTHETIC_SIZES['1b']) / 1e9).toBeCloseTo(0.973, 2);
  });
});
