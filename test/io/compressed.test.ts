import { describe, it, expect } from 'vitest';
import { CheckpointError } from '../../src/io/errors.js';
import { MemoryFolder } from '../../src/io/folder.js';
import { type QuantizationArgsInput, type QuantizationSchemeInput, normalizeQuantizationArgs } from '../../src/io/compressed/args.js';
import { type QuantizedLayer, writeCompressedCheckpoint, denseEntries } from '../../src/io/compressed/writer.js';
import { CompressedCheckpoint } from '../../src/io/compressed/reader.js';
import type { ScaleDType } from '../../src/io/compressed/layout.js';
import { openSafetensorsFolder } from '../../src/io/safetensors/store.js';
import type { TensorEntry } from '../../src/io/safetensors/writer.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/io/numeric/float.js';
import { randn, freshSeed } from '../helpers/random.js';
import { quantizeRef, sharedNvfp4GlobalScale } from './quantize-ref.js';
import { packInt32 } from '../../src/io/compressed/pack.js';

const CONFIG = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 64, intermediate_size: 96, num_attention_heads: 4,
  num_key_value_heads: 2, num_hidden_layers: 1, vocab_size: 16, tie_word_embeddings: false, torch_dtype: 'float32', rope_theta: 10000,
};

const MODULES: { module: string; shape: [number, number] }[] = [
  { module: 'model.layers.0.mlp.down_proj', shape: [64, 96] },
  { module: 'model.layers.0.mlp.gate_proj', shape: [96, 64] },
  { module: 'model.layers.0.mlp.up_proj', shape: [96, 64] },
];

function denseTensors(seed: number): TensorEntry[] {
  return [
    { name: 'model.embed_tokens.weight', dtype: 'F32', shape: [16, 64], data: randn(16 * 64, seed + 1) },
    { name: 'model.norm.weight', dtype: 'F32', shape: [64], data: randn(64, seed + 2) },
    { name: 'lm_head.weight', dtype: 'F32', shape: [16, 64], data: randn(16 * 64, seed + 3) },
    { name: 'model.layers.0.mlp.down_proj.bias', dtype: 'F32', shape: [64], data: randn(64, seed + 4) },
  ];
}

const rounders: Record<ScaleDType, (x: number) => number> = {
  F32: (x) => x,
  BF16: (x) => bf16ToF32(f32ToBf16(x)),
  F16: (x) => f16ToF32(f32ToF16(x)),
};

interface FormatCase {
  name: string;
  weights: QuantizationArgsInput;
  input?: QuantizationArgsInput;
  format: string;
  keys: string[];
  scaleDtype: ScaleDType;
  actorder?: boolean;
  extra?: (l: QuantizedLayer) => Partial<QuantizedLayer>;
}

const CASES: FormatCase[] = [
  { name: 'W4A16 sym group 32 (pack-quantized)', weights: { num_bits: 4, group_size: 32 }, format: 'pack-quantized', scaleDtype: 'BF16', keys: ['weight_packed', 'weight_scale', 'weight_shape'] },
  { name: 'W4A16 asym group 32', weights: { num_bits: 4, group_size: 32, symmetric: false }, format: 'pack-quantized', scaleDtype: 'F32', keys: ['weight_packed', 'weight_scale', 'weight_shape', 'weight_zero_point'] },
  { name: 'W4A16 asym channel', weights: { num_bits: 4, strategy: 'channel', symmetric: false }, format: 'pack-quantized', scaleDtype: 'F16', keys: ['weight_packed', 'weight_scale', 'weight_shape', 'weight_zero_point'] },
  { name: 'W8A16 sym channel', weights: { num_bits: 8, strategy: 'channel' }, format: 'pack-quantized', scaleDtype: 'BF16', keys: ['weight_packed', 'weight_scale', 'weight_shape'] },
  { name: 'W3 asym group 16 (cross-word packing)', weights: { num_bits: 3, group_size: 16, symmetric: false }, format: 'pack-quantized', scaleDtype: 'F32', keys: ['weight_packed', 'weight_scale', 'weight_shape', 'weight_zero_point'] },
  { name: 'W2 sym channel', weights: { num_bits: 2, strategy: 'channel' }, format: 'pack-quantized', scaleDtype: 'F32', keys: ['weight_packed', 'weight_scale', 'weight_shape'] },
  { name: 'W5 asym group 32', weights: { num_bits: 5, group_size: 32, symmetric: false }, format: 'pack-quantized', scaleDtype: 'F32', keys: ['weight_packed', 'weight_scale', 'weight_shape', 'weight_zero_point'] },
  { name: 'W1 sym tensor', weights: { num_bits: 1, strategy: 'tensor' }, format: 'pack-quantized', scaleDtype: 'F32', keys: ['weight_packed', 'weight_scale', 'weight_shape'] },
  { name: 'W4 asym tensor (I8 zero point)', weights: { num_bits: 4, strategy: 'tensor', symmetric: false }, format: 'pack-quantized', scaleDtype: 'F32', keys: ['weight_packed', 'weight_scale', 'weight_shape', 'weight_zero_point'] },
  { name: 'W4 group act-order (g_idx)', weights: { num_bits: 4, group_size: 16, actorder: 'group' }, format: 'pack-quantized', scaleDtype: 'BF16', actorder: true, keys: ['weight_packed', 'weight_scale', 'weight_shape', 'weight_g_idx'] },
  { name: 'W8A8 int8 channel + dynamic token (int-quantized)', weights: { num_bits: 8, strategy: 'channel' }, input: { num_bits: 8, strategy: 'token', dynamic: true }, format: 'int-quantized', scaleDtype: 'BF16', keys: ['weight', 'weight_scale'] },
  {
    name: 'W8A8 int8 static asym input (input_scale + input_zero_point)', weights: { num_bits: 8, strategy: 'channel' }, input: { num_bits: 8, strategy: 'tensor', symmetric: false }, format: 'int-quantized', scaleDtype: 'F32',
    keys: ['weight', 'weight_scale', 'input_scale', 'input_zero_point'], extra: () => ({ inputScale: Float32Array.of(0.05), inputZeroPoint: Int8Array.of(-3) }),
  },
  { name: 'FP8 channel + dynamic token (float-quantized)', weights: { num_bits: 8, type: 'float', strategy: 'channel' }, input: { num_bits: 8, type: 'float', strategy: 'token', dynamic: true }, format: 'float-quantized', scaleDtype: 'BF16', keys: ['weight', 'weight_scale'] },
  {
    name: 'FP8 static per-tensor', weights: { num_bits: 8, type: 'float', strategy: 'tensor' }, input: { num_bits: 8, type: 'float', strategy: 'tensor' }, format: 'float-quantized', scaleDtype: 'F32',
    keys: ['weight', 'weight_scale', 'input_scale'], extra: () => ({ inputScale: Float32Array.of(0.125) }),
  },
  { name: 'FP8 block 16x32 + dynamic group input', weights: { num_bits: 8, type: 'float', strategy: 'block', block_structure: [16, 32] }, input: { num_bits: 8, type: 'float', strategy: 'group', group_size: 32, dynamic: true }, format: 'float-quantized', scaleDtype: 'BF16', keys: ['weight', 'weight_scale'] },
  { name: 'FP8 weight-only (naive-quantized)', weights: { num_bits: 8, type: 'float', strategy: 'channel' }, format: 'naive-quantized', scaleDtype: 'F16', keys: ['weight', 'weight_scale'] },
  { name: 'NVFP4A16', weights: { num_bits: 4, type: 'float', strategy: 'tensor_group', group_size: 16 }, format: 'nvfp4-pack-quantized', scaleDtype: 'BF16', keys: ['weight_packed', 'weight_scale', 'weight_global_scale'] },
  {
    name: 'NVFP4 W4A4', weights: { num_bits: 4, type: 'float', strategy: 'tensor_group', group_size: 16 }, input: { num_bits: 4, type: 'float', strategy: 'tensor_group', group_size: 16, dynamic: 'local' }, format: 'nvfp4-pack-quantized', scaleDtype: 'BF16',
    keys: ['weight_packed', 'weight_scale', 'weight_global_scale', 'input_global_scale'], extra: () => ({ inputGlobalScale: Float32Array.of(123.5) }),
  },
];

function permutedGIdx(i: number, gs: number, seed: number): Int32Array {
  const g = Int32Array.from({ length: i }, (_, k) => Math.floor(k / gs));
  let s = seed >>> 0;
  for (let k = i - 1; k > 0; k--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (k + 1);
    [g[k], g[j]] = [g[j], g[k]];
  }
  return g;
}

describe('compressed-tensors round trips (write → read → dequantize), every format', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const seed = freshSeed();
      const scheme: QuantizationSchemeInput = { targets: ['re:.*mlp\\.'], weights: c.weights, ...(c.input ? { input_activations: c.input } : {}) };
      const args = normalizeQuantizationArgs(c.weights, { file: 't', field: 'w' });
      const refs = new Map<string, Float32Array>();
      const weights = MODULES.map(({ shape }, k) => randn(shape[0] * shape[1], seed + 10 * k, 0.1));
      const global = args.type === 'float' && args.num_bits === 4 ? sharedNvfp4GlobalScale(...weights) : undefined;
      const layers: QuantizedLayer[] = MODULES.map(({ module, shape }, k) => {
        const gIdx = c.actorder ? permutedGIdx(shape[1], args.group_size as number, seed + k) : undefined;
        const ref = quantizeRef(weights[k], shape, args, gIdx, rounders[c.scaleDtype], global);
        refs.set(module, ref.dequant);
        const layer = { module, group: 'group_0', ...ref.layer };
        return { ...layer, ...(c.extra?.(layer) ?? {}) };
      });
      const out = new MemoryFolder('out');
      const written = await writeCompressedCheckpoint(out, {
        config: { ...CONFIG, torch_dtype: { F32: 'float32', BF16: 'bfloat16', F16: 'float16' }[c.scaleDtype] },
        quantization: { config_groups: { group_0: scheme } },
        layers,
        dense: denseTensors(seed),
        recipe: 'quant_stage:\n  quant_modifiers: {}\n',
      });
      expect(written.quantizationConfig?.format).toBe(c.format);

      const ckpt = await CompressedCheckpoint.open(out);
      expect(ckpt.problems, `seed ${seed}`).toEqual([]);
      expect([...ckpt.modules.keys()].sort()).toEqual(MODULES.map((m) => m.module).sort());
      for (const { module, shape } of MODULES) {
        const m = ckpt.modules.get(module)!;
        expect(m.format).toBe(c.format);
        expect(m.shape).toEqual(shape);
        expect([...m.tensors.keys()].sort(), module).toEqual([...c.keys].sort());
        if (m.tensors.has('weight_scale') && c.format !== 'nvfp4-pack-quantized') expect(m.tensors.get('weight_scale')!.dtype).toBe(c.scaleDtype);
        const got = await ckpt.readDense(`${module}.weight`);
        const want = refs.get(module)!;
        for (let k = 0; k < want.length; k++) {
          if (!Object.is(got[k], want[k])) throw new Error(`seed ${seed} ${module}[${k}]: dequantized ${got[k]}, reference ${want[k]}`);
        }
      }
      // pass-through tensors are byte-identical, and the dense view has exactly the original names
      const store = await openSafetensorsFolder(out);
      for (const e of denseTensors(seed)) {
        expect(Buffer.from(await store.readTensor(e.name)).equals(Buffer.from((e.data as Float32Array).buffer))).toBe(true);
      }
      expect(ckpt.denseNames).toEqual([...denseTensors(seed).map((e) => e.name), ...MODULES.map((m) => `${m.module}.weight`)].sort());
      expect(out.text('recipe.yaml')).toContain('quant_stage');

      if (c.format === 'pack-quantized') {
        // Words packed beforehand (as the GPU quantizer hands them over) write the same files.
        const prepacked = layers.map((l) => {
          const [o, i] = l.shape;
          return { ...l, weight: packInt32(l.weight as Int8Array, o, i, args.num_bits) };
        });
        const again = new MemoryFolder('again');
        await writeCompressedCheckpoint(again, {
          config: { ...CONFIG, torch_dtype: { F32: 'float32', BF16: 'bfloat16', F16: 'float16' }[c.scaleDtype] },
          quantization: { config_groups: { group_0: scheme } },
          layers: prepacked,
          dense: denseTensors(seed),
          recipe: 'quant_stage:\n  quant_modifiers: {}\n',
        });
        expect([...again.files.keys()].sort()).toEqual([...out.files.keys()].sort());
        for (const [name, bytes] of out.files) expect(Buffer.from(again.files.get(name)!).equals(Buffer.from(bytes)), name).toBe(true);
      }
    });
  }
});

describe('quantization_config', () => {
  async function write(quantization: Parameters<typeof writeCompressedCheckpoint>[1]['quantization'], layers: QuantizedLayer[], dense: TensorEntry[] = []) {
    const out = new MemoryFolder('cfg');
    await writeCompressedCheckpoint(out, { config: CONFIG, quantization, layers, dense });
    return { out, config: JSON.parse(out.text('config.json')) };
  }
  const w4 = (module: string, shape: [number, number], group = 'group_0', args: QuantizationArgsInput = { num_bits: 4, group_size: 32 }) => {
    const ref = quantizeRef(randn(shape[0] * shape[1], 7), shape, normalizeQuantizationArgs(args, { file: 't', field: 'w' }));
    return { module, group, ...ref.layer } as QuantizedLayer;
  };

  it('matches Example A of §2.8: the §2.7 key subset, explicit strategy, lm_head ignored, status compressed', async () => {
    const { config, out } = await write({ config_groups: { group_0: { targets: ['re:.*down_proj'], weights: { num_bits: 4, group_size: 32 } } } }, [w4('model.layers.0.mlp.down_proj', [64, 96])]);
    expect(config.quantization_config).toEqual({
      config_groups: {
        group_0: {
          format: 'pack-quantized', input_activations: null, output_activations: null, targets: ['re:.*down_proj'],
          weights: { actorder: null, block_structure: null, dynamic: false, group_size: 32, num_bits: 4, observer: 'minmax', observer_kwargs: {}, strategy: 'group', symmetric: true, type: 'int' },
        },
      },
      format: 'pack-quantized', global_compression_ratio: null, ignore: ['lm_head'], kv_cache_scheme: null, quant_method: 'compressed-tensors',
      quantization_status: 'compressed', sparsity_config: {}, transform_config: {}, version: '0.12.2',
    });
    // the rest of config.json is kept; keys are written sorted with a two-space indent
    expect(config.hidden_size).toBe(64);
    const text = out.text('config.json');
    expect(text.indexOf('"architectures"')).toBeLessThan(text.indexOf('"hidden_size"'));
    expect(text).toContain('\n  "quantization_config": {\n');
    expect(text).not.toContain('scale_dtype');
  });

  it('writes an FP8 KV-cache scheme with the §2.11 keys', async () => {
    const { config } = await write({ config_groups: { group_0: { targets: ['re:.*down_proj'], weights: { num_bits: 4, group_size: 32 } } }, kv_cache_scheme: { num_bits: 8, type: 'float', strategy: 'tensor' } }, [w4('model.layers.0.mlp.down_proj', [64, 96])]);
    expect(config.quantization_config.kv_cache_scheme).toEqual({ num_bits: 8, type: 'float', strategy: 'tensor', dynamic: false, symmetric: true, group_size: null, block_structure: null, actorder: null, observer: 'minmax', observer_kwargs: {} });
  });

  it('uses mixed-precision when groups differ, each group carrying its format', async () => {
    const fp8 = { num_bits: 8, type: 'float', strategy: 'channel' } as const;
    const ref = quantizeRef(randn(96 * 64, 3), [96, 64], normalizeQuantizationArgs(fp8, { file: 't', field: 'w' }));
    const { config, out } = await write(
      {
        config_groups: {
          group_0: { targets: ['re:.*down_proj'], weights: { num_bits: 4, group_size: 32 } },
          group_1: { targets: ['re:.*(gate|up)_proj'], weights: fp8 },
        },
      },
      [w4('model.layers.0.mlp.down_proj', [64, 96]), { module: 'model.layers.0.mlp.gate_proj', group: 'group_1', ...ref.layer }, { module: 'model.layers.0.mlp.up_proj', group: 'group_1', ...ref.layer }],
    );
    expect(config.quantization_config.format).toBe('mixed-precision');
    expect(config.quantization_config.config_groups.group_0.format).toBe('pack-quantized');
    expect(config.quantization_config.config_groups.group_1.format).toBe('naive-quantized');
    const ckpt = await CompressedCheckpoint.open(out);
    expect(ckpt.problems).toEqual([]);
    expect([...ckpt.modules.get('model.layers.0.mlp.up_proj')!.tensors.keys()].sort()).toEqual(['weight', 'weight_scale']);
    expect(ckpt.modules.get('model.layers.0.mlp.down_proj')!.format).toBe('pack-quantized');
  });

  it('accepts CT aliases and drops keys old loaders reject', () => {
    const a = normalizeQuantizationArgs({ num_bits: 4, group_size: 128, actorder: true, scale_dtype: 'bfloat16', zp_dtype: null }, { file: 't', field: 'w' });
    expect(a).toEqual({ num_bits: 4, type: 'int', symmetric: true, group_size: 128, strategy: 'group', block_structure: null, dynamic: false, actorder: 'group', observer: 'minmax', observer_kwargs: {} });
    expect(normalizeQuantizationArgs({ strategy: 'block', block_structure: '128x128', type: 'float' }, { file: 't', field: 'w' }).block_structure).toEqual([128, 128]);
    expect(normalizeQuantizationArgs({ strategy: 'token', dynamic: true }, { file: 't', field: 'a' }).observer).toBe(null);
    expect(() => normalizeQuantizationArgs({ strategy: 'token' }, { file: 'cfg', field: 'a' })).toThrow(/token.*dynamic/);
    expect(() => normalizeQuantizationArgs({ group_size: 128, strategy: 'channel' }, { file: 'cfg', field: 'w' })).toThrow(CheckpointError);
    expect(() => normalizeQuantizationArgs({ strategy: 'group' }, { file: 'cfg', field: 'w' })).toThrow(/positive group_size/);
    expect(() => normalizeQuantizationArgs({ num_bits: 4, bogus: 1 } as never, { file: 'cfg', field: 'w' })).toThrow(/unknown QuantizationArgs key "bogus"/);
    expect(() => normalizeQuantizationArgs({ actorder: 'group', strategy: 'channel' }, { file: 'cfg', field: 'w' })).toThrow(/actorder requires/);
  });
});

describe('the writer refuses layers that would load wrongly', () => {
  const args = { num_bits: 4, group_size: 32 };
  const base = () => {
    const ref = quantizeRef(randn(64 * 96, 5), [64, 96], normalizeQuantizationArgs(args, { file: 't', field: 'w' }));
    return { module: 'model.layers.0.mlp.down_proj', group: 'group_0', ...ref.layer } as QuantizedLayer;
  };
  const q = (weights: QuantizationArgsInput = args, targets = ['re:.*down_proj']) => ({ config_groups: { group_0: { targets, weights } } });
  async function expectRefused(layers: QuantizedLayer[], quantization = q(), dense: TensorEntry[] = [], ...parts: string[]) {
    let err: unknown;
    const out = new MemoryFolder('out');
    try {
      await writeCompressedCheckpoint(out, { config: CONFIG, quantization, layers, dense });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CheckpointError);
    for (const p of parts) expect((err as Error).message).toContain(p);
    expect(out.files.has('config.json')).toBe(false);
  }

  it('an extra zero point for a symmetric scheme, a missing scale, wrong lengths, out-of-range codes', async () => {
    await expectRefused([{ ...base(), weightZeroPoint: new Int8Array(64 * 3) }], undefined, [], 'down_proj', 'weightZeroPoint', 'vLLM rejects');
    const { weightScale: _s, ...noScale } = base();
    await expectRefused([noScale as QuantizedLayer], undefined, [], 'missing weightScale');
    await expectRefused([{ ...base(), weightScale: new Float32Array(5) }], undefined, [], 'down_proj.weight_scale', '5 values');
    await expectRefused([{ ...base(), weight: new Int32Array(5) }], undefined, [], 'down_proj.weight_packed', 'packed weight has 5 values');
    const bad = base();
    (bad.weight as Int8Array)[17] = 9;
    await expectRefused([bad], undefined, [], 'down_proj.weight_packed', 'code 9');
    await expectRefused([{ ...base(), weightScale: new Float32Array(64 * 3).fill(NaN) }], undefined, [], 'weightScale[0] is NaN');
    // FP8 NaN codes (0x7f, 0xff) at several byte positions of a word, the last byte included.
    const fp8 = { num_bits: 8, type: 'float', strategy: 'channel' } as const;
    const fp8Layer = () => ({ module: 'model.layers.0.mlp.down_proj', group: 'group_0', ...quantizeRef(randn(64 * 96, 6), [64, 96], normalizeQuantizationArgs(fp8, { file: 't', field: 'w' })).layer }) as QuantizedLayer;
    for (const [at, code] of [[37, 0xff], [3, 0x7f], [64 * 96 - 1, 0x7f]] as const) {
      const l = fp8Layer();
      const w = (l.weight as Uint8Array).map((b) => ((b & 0x7f) === 0x7f ? b & 0xfe : b));
      w[at] = code;
      await expectRefused([{ ...l, weight: w }], q(fp8), [], `weight[${at}] is the FP8 NaN code 0x${code.toString(16)}`);
    }
  });

  it('a module outside its targets, one in ignore, a targeted Linear left dense, an unknown group', async () => {
    await expectRefused([base()], q(args, ['re:.*up_proj']), [], 'not matched by the targets');
    await expectRefused([base()], { ...q(), ignore: ['model.layers.0.mlp.down_proj'] } as never, [], 'listed in ignore');
    await expectRefused([base()], q(args, ['Linear']), [{ name: 'model.layers.0.mlp.up_proj.weight', dtype: 'F32', shape: [96, 64], data: new Float32Array(96 * 64) }], 'up_proj.weight', 'targeted by "group_0"');
    await expectRefused([{ ...base(), group: 'group_9' }], undefined, [], 'group_9');
  });

  it('gate/up with different schemes (vLLM fuses them)', async () => {
    const gate = quantizeRef(randn(96 * 64, 6), [96, 64], normalizeQuantizationArgs(args, { file: 't', field: 'w' }));
    await expectRefused(
      [{ module: 'model.layers.0.mlp.gate_proj', group: 'group_0', ...gate.layer }],
      q(args, ['re:.*gate_proj']),
      [{ name: 'model.layers.0.mlp.up_proj.weight', dtype: 'F32', shape: [96, 64], data: new Float32Array(96 * 64) }],
      'fused layers must share one scheme',
    );
  });

  it('NVFP4 gate/up with different global scales (vLLM keeps one per fused layer)', async () => {
    const nv = { num_bits: 4, type: 'float', strategy: 'tensor_group', group_size: 16 } as const;
    const a = normalizeQuantizationArgs(nv, { file: 't', field: 'w' });
    const gate = quantizeRef(randn(96 * 64, 11), [96, 64], a);
    const up = quantizeRef(randn(96 * 64, 12, 3), [96, 64], a);
    await expectRefused(
      [{ module: 'model.layers.0.mlp.gate_proj', group: 'group_0', ...gate.layer }, { module: 'model.layers.0.mlp.up_proj', group: 'group_0', ...up.layer }],
      q(nv, ['re:.*(gate|up)_proj']), [], 'weight_global_scale', 'fused layers need one global scale',
    );
  });

  it('a KV-cache scheme vLLM cannot use', async () => {
    const bad = { ...q(), kv_cache_scheme: { num_bits: 8, type: 'int', strategy: 'tensor' } };
    await expectRefused([base()], bad as never, [], 'kv_cache_scheme', 'FP8');
  });

  it('an act-order g_idx whose groups are not exactly group_size', async () => {
    const ao = { num_bits: 4, group_size: 32, actorder: 'group' } as const;
    const g = Int32Array.from({ length: 96 }, (_, k) => Math.floor(k / 32));
    const ref = quantizeRef(randn(64 * 96, 8), [64, 96], normalizeQuantizationArgs(ao, { file: 't', field: 'w' }), g);
    const bad = Int32Array.from(g);
    bad[0] = 1;
    await expectRefused([{ module: 'model.layers.0.mlp.down_proj', group: 'group_0', ...ref.layer, weightGIdx: bad }], q(ao), [], 'group 0 appears 31 times');
  });
});

describe('sharded compressed checkpoints', () => {
  it('shards above maxShardBytes and reads back identically', async () => {
    const args = normalizeQuantizationArgs({ num_bits: 4, group_size: 32, symmetric: false }, { file: 't', field: 'w' });
    const layers: QuantizedLayer[] = [];
    const refs = new Map<string, Float32Array>();
    for (let l = 0; l < 4; l++) {
      for (const p of ['q_proj', 'k_proj', 'v_proj']) {
        const module = `model.layers.${l}.self_attn.${p}`;
        const r = quantizeRef(randn(64 * 64, l * 7 + p.length), [64, 64], args);
        refs.set(module, r.dequant);
        layers.push({ module, group: 'group_0', ...r.layer });
      }
    }
    const out = new MemoryFolder('sharded');
    const written = await writeCompressedCheckpoint(out, {
      config: CONFIG, quantization: { config_groups: { group_0: { targets: ['re:.*self_attn\\.[qkv]_proj'], weights: { num_bits: 4, group_size: 32, symmetric: false } } } },
      layers, dense: [], maxShardBytes: 5000,
    });
    expect(written.weights.sharded).toBe(true);
    expect(written.files).toContain('model.safetensors.index.json');
    const ckpt = await CompressedCheckpoint.open(out);
    expect(ckpt.problems).toEqual([]);
    for (const [m, want] of refs) expect([...(await ckpt.dequantizeModule(m))]).toEqual([...want]);
    // the dense state dict of a re-read checkpoint can be re-written through denseEntries and reads back byte-identically
    const again = new MemoryFolder('again');
    await writeCompressedCheckpoint(again, { config: CONFIG, quantization: null, layers: [], dense: denseEntries(ckpt.weights) });
    const a = await openSafetensorsFolder(again);
    for (const t of ckpt.weights.tensors) {
      expect(a.info(t.name).dtype).toBe(t.dtype);
      expect(a.info(t.name).shape).toEqual(t.shape);
      expect(Buffer.from(await a.readTensor(t.name)).equals(Buffer.from(await ckpt.weights.readTensor(t.name)))).toBe(true);
    }
  });
});
