/**
 * Every example recipe quoted in the llm-compressor reference (§3) parses
 * into modifiers with the right field values, writes back to YAML, and reads
 * back to the same recipe.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Recipe } from '../../src/recipe/recipe.js';
import { loadRecipe } from '../../src/recipe/load.js';
import { QuantizationModifier } from '../../src/modifiers/quantization/base.js';
import { GPTQModifier } from '../../src/modifiers/gptq/base.js';
import { AWQModifier } from '../../src/modifiers/awq/base.js';
import { SmoothQuantModifier } from '../../src/modifiers/smoothquant/base.js';
import { SparseGPTModifier } from '../../src/modifiers/pruning/sparsegpt.js';
import { inferPipeline } from '../../src/pipelines/registry.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const fixture = (name: string) => loadRecipe(join(FIXTURES, name));

const fp8 = (strategy: string, dynamic: boolean) => ({ numBits: 8, type: 'float', symmetric: true, strategy, dynamic, groupSize: null });

describe('reference example recipes', () => {
  it('Example A: multi-strategy FP8 (per-channel attention, per-tensor MLP, dynamic token activations)', async () => {
    const r = await fixture('fp8_multiple_strategies.yaml');
    expect(r.stages.map((s) => s.name)).toEqual(['quant']);
    expect(r.modifiers).toHaveLength(1);
    const m = r.modifiers[0] as QuantizationModifier;
    expect(m).toBeInstanceOf(QuantizationModifier);
    expect(m.group).toBe('quant');
    expect(m.ignore).toEqual(['lm_head']);
    expect(m.scheme).toBeNull();
    const g = m.configGroups!;
    expect(Object.keys(g)).toEqual(['group_0', 'group_1']);
    expect(g.group_0.targets).toEqual(['re:.*self_attn.k_proj.*', 're:.*self_attn.o_proj.*', 're:.*self_attn.q_proj.*', 're:.*self_attn.v_proj.*']);
    expect(g.group_0.weights).toMatchObject({ ...fp8('channel', false), observer: 'memoryless_minmax', zpDtype: 'float8_e4m3fn' });
    expect(g.group_0.inputActivations).toMatchObject({ ...fp8('token', true), observer: null });
    expect(g.group_1.targets).toEqual(['re:.*down_proj.*', 're:.*gate_proj.*', 're:.*up_proj.*']);
    expect(g.group_1.weights).toMatchObject(fp8('tensor', false));
    expect(g.group_1.outputActivations).toBeNull();
    // Dynamic activations only: data-free, as the reference says.
    expect(m.requiresCalibrationData).toBe(false);
    expect(inferPipeline(r.modifiers)).toBe('datafree');
  });

  it('Example B: GPTQ mixed int8 (down_proj) / int4 asymmetric groups', async () => {
    const r = await fixture('gptq_int4_int8.yaml');
    const m = r.modifiers[0] as GPTQModifier;
    expect(m).toBeInstanceOf(GPTQModifier);
    expect([m.blockSize, m.dampeningFrac, m.actorder, m.offloadHessians]).toEqual([128, 0.01, undefined, false]);
    const g = m.configGroups!;
    expect(g.group_0.weights).toMatchObject({ numBits: 8, type: 'int', strategy: 'group', groupSize: 128, symmetric: true, dynamic: false });
    expect(g.group_0.targets).toEqual(['re:.*down_proj.*']);
    expect(g.group_1.weights).toMatchObject({ numBits: 4, type: 'int', strategy: 'group', groupSize: 128, symmetric: false, zpDtype: 'int8' });
    expect(g.group_1.targets).toHaveLength(6);
    // The absent actorder resolves to static for schemes that set none.
    const resolved = m.resolvedConfig.configGroups;
    expect([resolved.group_0.weights!.actorder, resolved.group_1.weights!.actorder]).toEqual(['static', 'static']);
    expect(m.requiresCalibrationData).toBe(true);
  });

  it('Example C: FP8 weights, static activations and KV cache', async () => {
    const r = await fixture('fp8_kv_cache.yaml');
    const m = r.modifiers[0] as QuantizationModifier;
    const g = m.configGroups!.group_0;
    expect(g.targets).toEqual(['Linear']);
    expect(g.weights).toMatchObject(fp8('tensor', false));
    expect(g.inputActivations).toMatchObject({ ...fp8('tensor', false), observer: 'memoryless_minmax' });
    expect(m.kvCacheScheme).toMatchObject(fp8('tensor', false));
    expect(m.resolvedTargets).toEqual(['Linear', 're:.*(self_attn|attention)$']);
    expect(m.requiresCalibrationData).toBe(true);
    expect(inferPipeline(r.modifiers)).toBe('sequential');
  });

  it('recipe_gptq_awq: AWQ, then W4A16 attention, then GPTQ W8A8 MLP', async () => {
    const r = await fixture('gptq_awq.yaml');
    const [awq, q, gptq] = r.modifiers as [AWQModifier, QuantizationModifier, GPTQModifier];
    expect(r.modifiers.map((m) => m.type)).toEqual(['AWQModifier', 'QuantizationModifier', 'GPTQModifier']);
    expect(awq.duoScaling).toBe(true);
    expect(awq.nGrid).toBe(20);
    expect(awq.offloadDevice).toBeUndefined();
    expect(awq.mappings).toEqual([{ smoothLayer: 're:.*input_layernorm$', balanceLayers: ['re:.*q_proj$', 're:.*k_proj$', 're:.*v_proj$'], activationHookTarget: null }]);
    expect(q.scheme).toBe('W4A16');
    expect(q.targets).toEqual(['re:.*self_attn\\.(k|q|o|v)_proj$']);
    expect(q.resolvedConfig.configGroups.group_0.weights).toMatchObject({ numBits: 4, type: 'int', strategy: 'group', groupSize: 128, symmetric: true });
    expect(q.requiresCalibrationData).toBe(false);
    expect([gptq.scheme, gptq.blockSize, gptq.dampeningFrac, gptq.actorder]).toEqual(['W8A8', 128, 0.001, null]);
    expect(gptq.targets).toEqual(['re:.*mlp\\.(down|gate|up)_proj$']);
    const w8a8 = gptq.resolvedConfig.configGroups.group_0;
    expect(w8a8.weights).toMatchObject({ numBits: 8, strategy: 'channel', actorder: null });
    expect(w8a8.inputActivations).toMatchObject({ numBits: 8, strategy: 'token', dynamic: true });
  });

  it('smoothquant_gptq_w8a8: list-form SmoothQuant mappings, then GPTQ W8A8', async () => {
    const r = await fixture('smoothquant_gptq_w8a8.yaml');
    const [sq, gptq] = r.modifiers as [SmoothQuantModifier, GPTQModifier];
    expect(sq.smoothingStrength).toBe(0.8);
    expect(sq.algorithm).toBe('smoothquant');
    expect(sq.mappings).toEqual([
      [['re:.*q_proj', 're:.*k_proj', 're:.*v_proj'], 're:.*input_layernorm'],
      [['re:.*gate_proj', 're:.*up_proj'], 're:.*post_attention_layernorm'],
    ]);
    expect([gptq.scheme, gptq.targets, gptq.ignore]).toEqual(['W8A8', ['Linear'], ['lm_head']]);
  });

  it('sparse_24_fp8: two stages, SparseGPT 2:4 then FP8', async () => {
    const r = await fixture('sparse_24_fp8.yaml');
    expect(r.stages.map((s) => [s.name, s.modifiers.map((m) => m.type)])).toEqual([
      ['pruning', ['SparseGPTModifier']],
      ['quant', ['QuantizationModifier']],
    ]);
    const sgpt = r.modifiers[0] as SparseGPTModifier;
    expect([sgpt.sparsity, sgpt.maskStructure, sgpt.group, sgpt.targets, sgpt.ignore]).toEqual([0.5, '2:4', 'obcq', ['Linear'], ['re:.*lm_head']]);
    expect(sgpt.pruneNM).toEqual({ n: 2, m: 4 });
    expect([sgpt.blockSize, sgpt.dampeningFrac, sgpt.preserveSparsityMask]).toEqual([128, 0.01, false]);
    expect(r.stage).toBe('quant');
    const only = await loadRecipe(join(FIXTURES, 'sparse_24_fp8.yaml'), { stage: 'quant' });
    expect(only.modifiers.map((m) => m.type)).toEqual(['QuantizationModifier']);
  });

  it('the W8A8 Python example as modifier instances', () => {
    const r = Recipe.create([new SmoothQuantModifier({ smoothingStrength: 0.8 }), new GPTQModifier({ targets: 'Linear', scheme: 'W8A8', ignore: ['lm_head'] })]);
    expect(r.stages.map((s) => s.name)).toEqual(['default']);
    const back = Recipe.fromText(r.yaml());
    expect(back.modifiers.map((m) => m.type)).toEqual(['SmoothQuantModifier', 'GPTQModifier']);
    expect((back.modifiers[1] as GPTQModifier).targets).toEqual(['Linear']);
    expect(back.toObject()).toEqual(r.toObject());
  });

  for (const file of readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml'))) {
    it(`${file} round-trips through recipe.yaml`, async () => {
      const r = await fixture(file);
      const text = r.yaml();
      const back = Recipe.fromText(text);
      expect(back.toObject()).toEqual(r.toObject());
      expect(back.modifiers.map((m) => [m.type, m.group])).toEqual(r.modifiers.map((m) => [m.type, m.group]));
      expect(back.yaml()).toBe(text);
    });
  }
});

describe('other recipe inputs', () => {
  it('a flat ClassName map, a JSON string, args, and a markdown recipe card', async () => {
    const flat = Recipe.create({ QuantizationModifier: { scheme: 'W4A16', ignore: ['lm_head'] } });
    expect(flat.stages.map((s) => s.name)).toEqual(['default']);
    expect((flat.modifiers[0] as QuantizationModifier).scheme).toBe('W4A16');
    expect(flat.modifiers[0].group).toBe('default');

    const json = Recipe.create('{"args": {"x": "1"}, "q_stage": {"q_modifiers": {"GPTQModifier": {"scheme": "W4A16", "block_size": 64}}}}');
    expect((json.modifiers[0] as GPTQModifier).blockSize).toBe(64);
    expect(json.args).toEqual({ x: '1' });
    expect(json.yaml()).toContain('args:\n  x: "1"');

    const md = await loadRecipe('card.md', {
      readText: async () => '---\nquant_stage:\n  quant_modifiers:\n    QuantizationModifier: {scheme: FP8_DYNAMIC}\n---\n# A recipe card\n',
    });
    expect((md.modifiers[0] as QuantizationModifier).scheme).toBe('FP8_DYNAMIC');
    await expect(loadRecipe('missing-recipe.yaml')).rejects.toThrow('recipe file not found: missing-recipe.yaml');
  });

  it('an empty stage or group is allowed and yields no modifiers', () => {
    expect(Recipe.create('quant_stage:\n  quant_modifiers:\n').modifiers).toEqual([]);
  });

  it('serialisation keeps order when groups interleave and when a class repeats', () => {
    const a = new QuantizationModifier({ scheme: 'W8A16', group: 'x' });
    const b = new SmoothQuantModifier({ group: 'y' });
    const c = new QuantizationModifier({ scheme: 'W4A16', group: 'x' });
    const r = Recipe.fromModifiers([a, b, c], 'main');
    const back = Recipe.fromText(r.yaml());
    expect(back.modifiers.map((m) => m.type)).toEqual(['QuantizationModifier', 'SmoothQuantModifier', 'QuantizationModifier']);
    expect(back.modifiers.map((m) => m.group)).toEqual(['x', 'y', 'x_1']);
    expect((back.modifiers[2] as QuantizationModifier).scheme).toBe('W4A16');
  });

  it('strings PyYAML would misread are quoted when written', () => {
    const r = Recipe.create({ SparseGPTModifier: { sparsity: 0.5, mask_structure: '2:4' } });
    expect(r.yaml()).toContain('mask_structure: "2:4"');
  });

  it('readFileSync of fixtures keeps working (no hidden state between parses)', () => {
    const text = readFileSync(join(FIXTURES, 'gptq_awq.yaml'), 'utf8');
    expect(Recipe.fromText(text).yaml()).toBe(Recipe.fromText(text).yaml());
  });
});
