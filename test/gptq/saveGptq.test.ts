/**
 * Saving GPTQ / SparseGPT results (issue 7): a small random Llama is
 * compressed through `oneshot`, saved with `saveQuantizedModel`, read back
 * with the compressed-tensors reader, and every dequantized weight must equal
 * the in-memory fake-quantized weight bit for bit (the codes are derived from
 * the stored qparams, never re-observed). Key sets follow compressed-tensors
 * (input_scale only for static inputs, weight_g_idx only for actorder group,
 * one config group per recipe group), and pruned models report their sparsity.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { freshSeed, rng } from '../helpers/random.js';
import type { Hardware } from '../../src/gpu/hardware.js';
import { causalLMFromHostWeights } from '../../src/models/load.js';
import type { CausalLM } from '../../src/models/causalLM.js';
import type { LlamaConfig } from '../../src/models/llama/config.js';
import { oneshot } from '../../src/oneshot.js';
import { LoggerManager } from '../../src/loggers/manager.js';
import { SMALL_CONFIGS, smallConfig, randomWeights } from '../models/synthetic.js';
import { saveQuantizedModel, type SavedModel } from '../../src/quantization/save.js';
import { CompressedCheckpoint } from '../../src/io/compressed/reader.js';
import { openNodeFolder } from '../../src/io/node/index.js';

const hardware = useHardware();
const work = mkdtempSync(join(tmpdir(), 'wgc-gptq-save-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function model(hw: Hardware, seed: number): { model: CausalLM; config: LlamaConfig } {
  const config = smallConfig('llama');
  const weights = randomWeights(config, seed);
  // lm_head is tied to the embeddings: every recipe ignores it (GPTQ refuses tied weights).
  const rawConfig = { ...SMALL_CONFIGS.llama, torch_dtype: 'float32', model_type: 'llama' };
  return { model: causalLMFromHostWeights(hw, config, (spec) => weights.get(spec.name)!, { rawConfig }), config };
}

function samples(config: LlamaConfig, seed: number, count = 4, length = 20): Int32Array[] {
  const r = rng(seed);
  return Array.from({ length: count }, () => Int32Array.from({ length }, () => Math.floor(r() * config.vocabSize)));
}

interface Run {
  model: CausalLM;
  saved: SavedModel;
  dir: string;
  ckpt: CompressedCheckpoint;
}

let runs = 0;
async function compressAndSave(hw: Hardware, seed: number, recipe: Record<string, unknown>): Promise<Run> {
  const { model: m, config } = model(hw, seed);
  const dir = join(work, `run-${runs++}`);
  let saved: SavedModel | undefined;
  await oneshot({
    model: m, hardware: hw, loggers: LoggerManager.silent(), dataset: { samples: samples(config, seed) }, recipe, outputDir: dir,
    save: async (mm, d, ctx) => {
      saved = await saveQuantizedModel(mm, d, ctx);
    },
  });
  const ckpt = await CompressedCheckpoint.open(await openNodeFolder(dir));
  return { model: m, saved: saved!, dir, ckpt };
}

/** Every compressed module dequantizes to the in-memory Q(W) exactly; returns the module names. */
async function expectExactRoundTrip(r: Run, seed: number): Promise<string[]> {
  const names = [...r.ckpt.modules.keys()];
  for (const name of names) {
    const got = await r.ckpt.dequantizeModule(name);
    const want = await (await r.model.root.getModule(name)!.getParameter('weight')!.get()).readF32();
    let bad = 0;
    for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i]) && got[i] !== want[i]) bad++;
    expect(bad, `seed ${seed}: ${name} elements differing from the in-memory fake-quantized weight`).toBe(0);
  }
  expect(r.ckpt.problems, r.ckpt.problems.join('\n')).toEqual([]);
  return names;
}

const LINEARS = 14; // 2 layers × (q, k, v, o, gate, up, down)

describe('saveQuantizedModel with GPTQ', () => {
  it('mixed config groups (int8 channel q/k/v, int4 channel asym o_proj, int4 group-32 asym MLP): exact round trip, one config group each', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    await inErrorScope(hw, async () => {
      const r = await compressAndSave(hw, seed, {
        GPTQModifier: {
          ignore: ['lm_head'],
          config_groups: {
            qkv: { targets: ['re:.*self_attn\\.(q|k|v)_proj$'], weights: { num_bits: 8, type: 'int', symmetric: true, strategy: 'channel' } },
            o: { targets: ['re:.*o_proj$'], weights: { num_bits: 4, type: 'int', symmetric: false, strategy: 'channel' } },
            mlp: { targets: ['re:.*mlp\\..*_proj$'], weights: { num_bits: 4, type: 'int', symmetric: false, strategy: 'group', group_size: 32 } },
          },
        },
      });
      expect(await expectExactRoundTrip(r, seed)).toHaveLength(LINEARS);
      const q = r.ckpt.quantization!;
      expect(Object.keys(q.config_groups).sort()).toEqual(['mlp', 'o', 'qkv']);
      expect(q.config_groups.qkv.weights!.num_bits).toBe(8);
      expect(q.config_groups.mlp.weights!.group_size).toBe(32);
      expect(q.format).toBe('pack-quantized');
      const keys = [...r.ckpt.modules.get('model.layers.0.mlp.up_proj')!.tensors.keys()].sort();
      expect(keys).toEqual(['weight_packed', 'weight_scale', 'weight_shape', 'weight_zero_point']);
      expect([...r.ckpt.modules.get('model.layers.0.self_attn.q_proj')!.tensors.keys()].sort()).toEqual(['weight_packed', 'weight_scale', 'weight_shape']);
      expect(r.saved.sparsity).toBeNull();
      const cfg = JSON.parse(readFileSync(join(r.dir, 'config.json'), 'utf8'));
      expect(cfg.quantization_config.sparsity_config).toEqual({});
      await r.ckpt.weights.close();
    });
  });

  it('W4A16 group-32 symmetric with actorder group: weight_g_idx written and used; exact round trip', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    await inErrorScope(hw, async () => {
      const r = await compressAndSave(hw, seed, {
        GPTQModifier: { ignore: ['lm_head'], actorder: 'group', config_groups: { g: { targets: ['Linear'], weights: { num_bits: 4, type: 'int', symmetric: true, strategy: 'group', group_size: 32 } } } },
      });
      expect(await expectExactRoundTrip(r, seed)).toHaveLength(LINEARS);
      expect(r.ckpt.quantization!.config_groups.g.weights!.actorder).toBe('group');
      const mod = r.ckpt.modules.get('model.layers.1.mlp.down_proj')!;
      expect([...mod.tensors.keys()].sort()).toEqual(['weight_g_idx', 'weight_packed', 'weight_scale', 'weight_shape']);
      // The g_idx is not the identity grouping (activation order moved columns between groups).
      const gIdx = new Int32Array((await r.ckpt.weights.readTensor('model.layers.1.mlp.down_proj.weight_g_idx')).slice().buffer);
      expect(Array.from(gIdx).some((g, c) => g !== Math.floor(c / 32))).toBe(true);
      await r.ckpt.weights.close();
    });
  });

  it('FP8 static (GPTQ): F8 weights, input_scale [1] on every Linear, exact round trip', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    await inErrorScope(hw, async () => {
      const r = await compressAndSave(hw, seed, { GPTQModifier: { scheme: 'FP8', ignore: ['lm_head'] } });
      expect(await expectExactRoundTrip(r, seed)).toHaveLength(LINEARS);
      const g = Object.values(r.ckpt.quantization!.config_groups)[0];
      expect(g.format).toBe('float-quantized');
      for (const [name, mod] of r.ckpt.modules) {
        expect([...mod.tensors.keys()].sort(), name).toEqual(['input_scale', 'weight', 'weight_scale']);
        const s = await r.ckpt.weights.readF32(`${name}.input_scale`);
        const inMemory = await (await r.model.root.getModule(name)!.getParameter('input_scale')!.get()).readF32();
        expect(s[0], name).toBe(inMemory[0]);
      }
      await r.ckpt.weights.close();
    });
  });

  it('NVFP4 (GPTQ): FP4 codes from the stored FP8 scales and global scale, shared fused global scales, input_global_scale; exact round trip', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    await inErrorScope(hw, async () => {
      const r = await compressAndSave(hw, seed, { GPTQModifier: { scheme: 'NVFP4', ignore: ['lm_head'] } });
      expect(await expectExactRoundTrip(r, seed)).toHaveLength(LINEARS);
      const g = Object.values(r.ckpt.quantization!.config_groups)[0];
      expect(g.format).toBe('nvfp4-pack-quantized');
      expect(g.weights!.actorder).toBeNull();
      for (const [name, mod] of r.ckpt.modules) {
        expect([...mod.tensors.keys()].sort(), name).toEqual(['input_global_scale', 'weight_global_scale', 'weight_packed', 'weight_scale']);
      }
      const gs = async (n: string) => (await r.ckpt.weights.readF32(`model.layers.0.${n}.weight_global_scale`))[0];
      expect(await gs('self_attn.k_proj')).toBe(await gs('self_attn.q_proj'));
      expect(await gs('self_attn.v_proj')).toBe(await gs('self_attn.q_proj'));
      expect(await gs('mlp.up_proj')).toBe(await gs('mlp.gate_proj'));
      await r.ckpt.weights.close();
    });
  });

  it('SparseGPT 2:4 then GPTQ W4A16: saved codes keep the 2:4 zeros; SparsityReport counts them', async () => {
    const hw = await hardware();
    const seed = freshSeed();
    await inErrorScope(hw, async () => {
      const r = await compressAndSave(hw, seed, {
        sparsity_stage: { sparsity_modifiers: { SparseGPTModifier: { sparsity: 0.5, mask_structure: '2:4', ignore: ['lm_head'] } } },
        quant_stage: { quant_modifiers: { GPTQModifier: { ignore: ['lm_head'], config_groups: { g: { targets: ['Linear'], weights: { num_bits: 4, type: 'int', symmetric: true, strategy: 'group', group_size: 32 } } } } } },
      });
      expect(await expectExactRoundTrip(r, seed)).toHaveLength(LINEARS);
      const report = r.saved.sparsity!;
      expect(report.modules).toHaveLength(LINEARS);
      let zeros = 0;
      let total = 0;
      for (const { name, sparsity } of report.modules) {
        const w = await r.ckpt.dequantizeModule(name);
        let z = 0;
        for (let g = 0; g < w.length; g += 4) {
          let inGroup = 0;
          for (let k = 0; k < 4; k++) if (w[g + k] === 0) inGroup++;
          expect(inGroup, `${name} group at ${g}`).toBeGreaterThanOrEqual(2);
          z += inGroup;
        }
        expect(sparsity, name).toBe(z / w.length);
        zeros += z;
        total += w.length;
      }
      expect(report.global).toBeCloseTo(zeros / total, 12);
      expect(report.global).toBeGreaterThanOrEqual(0.5);
      const cfg = JSON.parse(readFileSync(join(r.dir, 'config.json'), 'utf8'));
      expect(cfg.quantization_config.sparsity_config).toEqual({});
      await r.ckpt.weights.close();
    });
  });
});
