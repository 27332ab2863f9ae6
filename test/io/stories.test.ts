import { describe, it, expect, afterAll } from 'vitest';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openModelDir, openNodeFolder, writeOutputFolder } from '../../src/io/node/index.js';
import { normalizeQuantizationArgs, type QuantizationArgsInput } from '../../src/io/compressed/args.js';
import { type QuantizedLayer, writeCompressedCheckpoint, denseEntries } from '../../src/io/compressed/writer.js';
import { CompressedCheckpoint } from '../../src/io/compressed/reader.js';
import { inspectFolder } from '../../src/io/inspect.js';
import { quantizeRef } from './quantize-ref.js';
import { stories260K } from './helpers.js';

const tmp: string[] = [];
afterAll(async () => {
  for (const d of tmp) await rm(d, { recursive: true, force: true });
});

const GROUPS: Record<string, { targets: string[]; weights: QuantizationArgsInput }> = {
  attn: { targets: ['re:.*self_attn\\.(q|k|v|o)_proj$'], weights: { num_bits: 4, group_size: 32, symmetric: false } },
  gateup: { targets: ['re:.*mlp\\.(gate|up)_proj$'], weights: { num_bits: 8, type: 'float', strategy: 'channel' } },
  down: { targets: ['re:.*mlp\\.down_proj$'], weights: { num_bits: 8, strategy: 'channel' } },
};

function groupOf(module: string): string {
  if (/self_attn/.test(module)) return 'attn';
  if (/down_proj/.test(module)) return 'down';
  return 'gateup';
}

describe.skipIf(!stories260K)('stories260K: model folder → compressed-tensors checkpoint on disk → back', () => {
  it('parses config.json into the typed config', async () => {
    const model = await openModelDir(stories260K as string);
    try {
      const c = model.config;
      expect(c.architecture).toBe('LlamaForCausalLM');
      expect(c.modelType).toBe('llama');
      expect([c.hiddenSize, c.intermediateSize, c.numHiddenLayers, c.numAttentionHeads, c.numKeyValueHeads, c.headDim, c.vocabSize]).toEqual([64, 172, 5, 8, 4, 8, 512]);
      expect(c.rope).toEqual({ theta: 10000, scaling: null, partialRotaryFactor: 1 });
      expect(c.tieWordEmbeddings).toBe(true);
      expect(c.torchDtype).toBe('float32');
      expect(c.rmsNormEps).toBe(1e-5);
      expect(c.bosTokenId).toBe(1);
      expect(model.weights.tensors.length).toBe(48);
      expect(model.carriedFiles).toEqual(['generation_config.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer.model', 'tokenizer_config.json']);
    } finally {
      await model.close();
    }
  });

  it('writes a mixed-precision checkpoint, carries tokenizer files unchanged, and reads every weight back', async () => {
    const model = await openModelDir(stories260K as string);
    const dir = await mkdtemp(join(tmpdir(), 'wgc-io-'));
    tmp.push(dir);
    const target = join(dir, 'stories260K-mixed');
    const refs = new Map<string, Float32Array>();
    const layers: QuantizedLayer[] = [];
    for (const t of model.weights.tensors) {
      const m = /^(model\.layers\.\d+\.(self_attn|mlp)\.\w+_proj)\.weight$/.exec(t.name);
      if (!m) continue;
      const group = groupOf(m[1]);
      const args = normalizeQuantizationArgs(GROUPS[group].weights, { file: 't', field: group });
      const ref = quantizeRef(await model.weights.readF32(t.name), [t.shape[0], t.shape[1]], args);
      refs.set(m[1], ref.dequant);
      layers.push({ module: m[1], group, ...ref.layer });
    }
    expect(layers.length).toBe(35);
    const written = await writeOutputFolder(target, {}, (out) =>
      writeCompressedCheckpoint(out, {
        config: model.config.raw,
        quantization: { config_groups: GROUPS },
        layers,
        dense: denseEntries(model.weights),
        recipe: 'quant_stage:\n  quant_modifiers:\n    QuantizationModifier: {}\n',
        carryFrom: model.folder,
      }),
    );
    await model.close();
    expect(written.quantizationConfig?.format).toBe('mixed-precision');
    expect((await readdir(dir)).sort()).toEqual(['stories260K-mixed']); // no temporary folder left beside it
    expect((await readdir(target)).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'recipe.yaml', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer.model', 'tokenizer_config.json']);
    for (const f of ['tokenizer.json', 'tokenizer.model', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json']) {
      expect((await readFile(join(target, f))).equals(await readFile(join(stories260K as string, f))), f).toBe(true);
    }
    const srcConfig = JSON.parse(await readFile(join(stories260K as string, 'config.json'), 'utf8'));
    const outConfig = JSON.parse(await readFile(join(target, 'config.json'), 'utf8'));
    const { quantization_config: qc, ...rest } = outConfig;
    expect(rest).toEqual(srcConfig);
    expect(qc.quantization_status).toBe('compressed');
    expect(qc.ignore).toEqual(['lm_head']);

    const ckpt = await CompressedCheckpoint.open(await openNodeFolder(target));
    try {
      expect(ckpt.problems).toEqual([]);
      expect(ckpt.modules.size).toBe(35);
      expect(ckpt.denseNames.length).toBe(48);
      const src = await openModelDir(stories260K as string);
      let maxRel = 0;
      for (const name of ckpt.denseNames) {
        const got = await ckpt.readDense(name);
        const module = name.slice(0, -'.weight'.length);
        const want = refs.get(module) ?? (await src.weights.readF32(name));
        expect(got.length).toBe(want.length);
        for (let k = 0; k < want.length; k++) if (!Object.is(got[k], want[k])) throw new Error(`${name}[${k}]: ${got[k]} vs ${want[k]}`);
        if (refs.has(module)) {
          const orig = await src.weights.readF32(name);
          let num = 0;
          let den = 0;
          for (let k = 0; k < orig.length; k++) {
            num += (orig[k] - got[k]) ** 2;
            den += orig[k] ** 2;
          }
          maxRel = Math.max(maxRel, Math.sqrt(num / den));
        }
      }
      await src.close();
      // int4 asym group 32 is the coarsest group here: a relative RMS error around 0.1 is expected
      expect(maxRel).toBeLessThan(0.2);
    } finally {
      await ckpt.close();
    }

    const report = await inspectFolder(await openNodeFolder(target));
    expect(report.problems).toEqual([]);
    expect(report.totals.parameters).toBe(292800);
    expect(report.quantization?.modules).toBe(35);
    expect(report.quantization?.groups.map((g) => [g.name, g.format, g.modules])).toEqual([['attn', 'pack-quantized', 20], ['down', 'pack-quantized', 5], ['gateup', 'naive-quantized', 10]]);
    // int4 codes + an f32 scale and a packed 4-bit zero point per 32 weights (4 + 1 + 0.125 bits), plus weight_shape
    const bits = report.quantization?.groups[0].storedBitsPerWeight as number;
    expect(bits).toBeGreaterThan(5.125);
    expect(bits).toBeLessThan(5.2);
  });
});
