import { describe, it, expect } from 'vitest';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { MemoryFolder } from '../../src/io/folder.js';
import { openModelDir } from '../../src/io/node/index.js';
import { CompressedCheckpoint } from '../../src/io/compressed/reader.js';
import { makeQuantizationArgs, makeQuantizationScheme } from '../../src/quantization/args.js';
import { presetScheme } from '../../src/quantization/presets.js';
import { referenceQuantize } from '../../src/quantization/reference.js';
import { modelFreeQuantize, planModelFree, type QuantizationSpec } from '../../src/quantization/modelFree.js';

const hardware = useHardware();
const SHARED = resolve(__dirname, '../../..', 'shared');
const STORIES = resolve(SHARED, 'models/stories260K');
const haveStories = existsSync(resolve(STORIES, 'model.safetensors'));
if (!haveStories) console.warn(`skipping model-free tests: ${STORIES} is absent`);

async function runOn(spec: QuantizationSpec, codeCacheBytes?: number): Promise<{ out: MemoryFolder; result: Awaited<ReturnType<typeof modelFreeQuantize>> }> {
  const hw = await hardware();
  const folder = await openModelDir(STORIES);
  const out = new MemoryFolder('out');
  try {
    const result = await inErrorScope(hw, () => modelFreeQuantize(hw, out, { weights: folder.weights, config: folder.config.raw, carryFrom: folder.folder, spec, codeCacheBytes }));
    return { out, result };
  } finally {
    await folder.close();
  }
}

/** Every quantized weight read back by src/io's reader equals the reference's fake-quantized weight, bit for bit. */
async function expectDequantizesToFakeQuant(out: MemoryFolder, spec: QuantizationSpec, groupOf: (m: string) => string): Promise<number> {
  const ckpt = await CompressedCheckpoint.open(out);
  const src = await openModelDir(STORIES);
  let checked = 0;
  try {
    for (const [module, info] of ckpt.modules) {
      const name = `${module}.weight`;
      const w = await src.weights.readF32(name);
      const [o, i] = info.shape!;
      const ref = referenceQuantize(w, o, i, spec.groups[groupOf(module)].weights!);
      const got = await ckpt.readDense(name);
      for (let k = 0; k < got.length; k++) {
        // Equal as numbers: torch's fake quantization keeps the sign of a negative value that rounds to 0 (−0.0);
        // the stored int code 0 has no sign, so the reader returns +0 there.
        if (got[k] !== ref.fake[k]) throw new Error(`${name}[${k}]: read back ${got[k]}, fake-quantized ${ref.fake[k]}`);
      }
      checked++;
    }
    // Everything else is copied unchanged.
    for (const t of src.weights.tensors) {
      if (ckpt.modules.has(t.name.slice(0, -'.weight'.length))) continue;
      expect(await ckpt.weights.readTensor(t.name)).toEqual(await src.weights.readTensor(t.name));
    }
  } finally {
    await src.close();
    await ckpt.weights.close();
  }
  return checked;
}

describe.skipIf(!haveStories)('data-free oneshot on stories260K (model-free streaming)', () => {
  it('W8A8: every Linear but lm_head quantized; src/io reads back exactly the fake-quantized weights', async () => {
    const spec: QuantizationSpec = { groups: { group_0: presetScheme('W8A8', ['Linear']) }, ignore: [] };
    const { out, result } = await runOn(spec);
    expect(result.plan.quantize.length).toBe(35);
    expect(result.plan.skipped.map((s) => s.tensor).sort()).toEqual(['lm_head.weight', 'model.embed_tokens.weight']);
    const config = JSON.parse(new TextDecoder().decode(out.files.get('config.json')));
    const q = config.quantization_config;
    expect(q.format).toBe('int-quantized');
    expect(q.ignore).toContain('lm_head');
    expect(q.config_groups.group_0.weights).toMatchObject({ num_bits: 8, strategy: 'channel', symmetric: true, type: 'int' });
    expect(q.config_groups.group_0.input_activations).toMatchObject({ dynamic: true, strategy: 'token' });
    expect(await expectDequantizesToFakeQuant(out, spec, () => 'group_0')).toBe(35);
    expect(result.layers.every((l) => l.relativeError > 0 && l.relativeError < 0.02)).toBe(true);
    expect(out.files.has('tokenizer.json')).toBe(true);
    // int-quantized scales sort before the I8 codes: the codes were kept, each layer quantized once …
    expect(result.quantizations).toBe(35);
    // … and with no room to keep them, every layer is quantized again when its codes are due, to the same bytes.
    const again = await runOn(spec, 0);
    expect(again.result.quantizations).toBe(70);
    for (const [k, v] of out.files) expect(again.out.files.get(k), k).toEqual(v);
  });

  it('W4A16 channel-wise config_groups (dims are not multiples of 128): exact read-back, pack-quantized', async () => {
    const spec: QuantizationSpec = {
      groups: {
        group_0: makeQuantizationScheme({ targets: ['Linear'], weights: makeQuantizationArgs({ numBits: 4, type: 'int', symmetric: true, strategy: 'channel' }) }),
      },
      ignore: ['lm_head'],
    };
    const { out, result } = await runOn(spec);
    const q = JSON.parse(new TextDecoder().decode(out.files.get('config.json'))).quantization_config;
    expect(q.format).toBe('pack-quantized');
    expect(await expectDequantizesToFakeQuant(out, spec, () => 'group_0')).toBe(35);
    // int4 codes + f32 channel scales on 64/172-wide rows: a little over 4 bits per weight
    expect(result.bitsPerWeight).toBeGreaterThan(4);
    expect(result.bitsPerWeight).toBeLessThan(5.5);
  });

  it('two runs write byte-identical checkpoints (NVFP4A16 with fused q/k/v and gate/up global scales)', async () => {
    // down_proj (172 inputs) does not divide into groups of 16.
    const spec: QuantizationSpec = { groups: { group_0: presetScheme('NVFP4A16', ['Linear']) }, ignore: ['re:.*down_proj'] };
    const a = await runOn(spec);
    const b = await runOn(spec);
    expect([...a.out.files.keys()].sort()).toEqual([...b.out.files.keys()].sort());
    for (const [k, v] of a.out.files) expect(b.out.files.get(k), k).toEqual(v);
    // src/io's writer refuses differing global scales within q/k/v and gate/up, so getting here proves they are shared.
    expect(a.result.plan.quantize.length).toBe(30);
  });

  it('schemes with static activations fail before any work, saying calibration is needed', async () => {
    const folder = await openModelDir(STORIES);
    try {
      for (const name of ['FP8', 'NVFP4']) {
        expect(() => planModelFree(folder.weights, { groups: { group_0: presetScheme(name) }, ignore: [] })).toThrow(/needs calibration data/);
      }
      const staticW8A8 = makeQuantizationScheme({
        targets: ['Linear'],
        weights: makeQuantizationArgs({ numBits: 8, strategy: 'channel' }),
        inputActivations: makeQuantizationArgs({ numBits: 8, strategy: 'tensor', dynamic: false }),
      });
      expect(() => planModelFree(folder.weights, { groups: { group_0: staticW8A8 }, ignore: [] })).toThrow(/needs calibration data/);
      // group 128 on 64-wide layers: the tensor is named and the fix suggested
      expect(() => planModelFree(folder.weights, { groups: { group_0: presetScheme('W4A16') }, ignore: [] })).toThrow(/model\.layers\.0\.mlp\.down_proj\.weight: 172 input columns are not a multiple of group_size 128; use strategy "channel"/);
    } finally {
      await folder.close();
    }
  });
});
