/**
 * `wgc oneshot --dataset`: the calibrated path on ../shared/models/stories260K
 * with tiny settings (4 samples × 64 tokens of tinystories-valid-calib.txt),
 * run in-process through the command's `run(argv)`: a GPTQ W4A16 recipe whose
 * output `wgc eval` scores with a finite perplexity, a SparseGPT 2:4 recipe
 * whose summary reports half of every targeted weight pruned, and the input
 * errors (exit 2, message naming the flag or file).
 */
import { describe, it, expect, vi, afterAll } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { run as oneshot } from '../../src/cli/commands/oneshot.js';
import { run as evaluate } from '../../src/cli/commands/eval.js';
import { inErrorScope, useHardware } from '../helpers/gpu.js';

const REPO = resolve(__dirname, '../..');
const SHARED = resolve(REPO, '..', 'shared');
const MODEL = join(SHARED, 'models', 'stories260K');
const CALIB = join(SHARED, 'data', 'tinystories-valid-calib.txt');
const EVAL = join(SHARED, 'data', 'tinystories-valid-eval.txt');
const present = existsSync(join(MODEL, 'model.safetensors')) && existsSync(CALIB) && existsSync(EVAL);
if (!present) console.warn(`skipping calibrated wgc oneshot tests on stories260K: ${MODEL}, ${CALIB} or ${EVAL} not found (../shared is absent)`);

const work = mkdtempSync(join(tmpdir(), 'wgc-oneshot-cal-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** stories260K's dims (64, 172) need channel-wise int4 (W4A16's groups of 128 do not divide 64); actorder is GPTQ's default. */
const GPTQ_RECIPE = `quant_stage:
  quant_modifiers:
    GPTQModifier:
      ignore: [lm_head]
      config_groups:
        group_0:
          targets: [Linear]
          weights: {num_bits: 4, type: int, symmetric: true, strategy: channel}
`;

const SPARSEGPT_RECIPE = `sparsity_stage:
  sparsity_modifiers:
    SparseGPTModifier:
      sparsity: 0.5
      mask_structure: "2:4"
      targets: [Linear]
      ignore: [lm_head]
`;

function recipe(name: string, text: string): string {
  const file = join(work, name);
  writeFileSync(file, text);
  return file;
}

/** Runs a `wgc` command in-process, capturing stdout (console.log) and stderr (console.error, process.stderr). */
async function cli(run: (argv: string[]) => Promise<number>, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ') + '\n'));
  const write = vi.spyOn(process.stderr, 'write').mockImplementation(((s: string) => (err.push(String(s)), true)) as never);
  try {
    const code = await run(args);
    return { code, out: out.join('\n'), err: err.join('') };
  } finally {
    log.mockRestore();
    error.mockRestore();
    write.mockRestore();
  }
}

const TINY = ['--num-calibration-samples', '4', '--max-seq-length', '64', '--doc-separator', '<|endoftext|>'];

describe('wgc oneshot --dataset: usage errors', () => {
  it('exit 2 naming the flag, before any work', async () => {
    const gptq = recipe('gptq-usage.yaml', GPTQ_RECIPE);
    const base = ['--model', MODEL, '--output', join(work, 'never')];
    const cases: [string[], RegExp][] = [
      [[...base, '--recipe', gptq], /needs calibration data \(GPTQModifier\); pass --dataset FILE/],
      [[...base, '--scheme', 'W4A16', '--num-calibration-samples', '4'], /--num-calibration-samples is for calibration and needs --dataset FILE/],
      [[...base, '--recipe', gptq, '--dataset', CALIB, '--num-calibration-samples', '0'], /--num-calibration-samples must be an integer ≥ 1, got "0"/],
      [[...base, '--recipe', gptq, '--dataset', CALIB, '--num-calibration-samples', '4x'], /--num-calibration-samples must be an integer ≥ 1, got "4x"/],
      [[...base, '--recipe', gptq, '--dataset', CALIB, '--max-seq-length', '1'], /--max-seq-length must be an integer ≥ 2/],
      [[...base, '--recipe', gptq, '--dataset', CALIB, '--pipeline', 'fastest'], /--pipeline "fastest" is not one of .*sequential/],
      [[...base, '--recipe', gptq, '--dataset', CALIB, '--calibration-mode', 'random'], /--calibration-mode must be windows or documents/],
      [[...base, '--recipe', join(work, 'absent.yaml'), '--dataset', CALIB], /recipe file not found: .*absent\.yaml/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(oneshot, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(message);
    }
    expect(existsSync(join(work, 'never'))).toBe(false);
  });
});

describe.skipIf(!present)('wgc oneshot --dataset on stories260K', () => {
  it('a missing dataset file, a too-short dataset and a non-empty output exit 2 and name what is wrong', async () => {
    const gptq = recipe('gptq-errors.yaml', GPTQ_RECIPE);
    const out = join(work, 'never2');
    const missing = await cli(oneshot, ['--model', MODEL, '--recipe', gptq, '--output', out, '--dataset', join(work, 'nope.txt'), ...TINY]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/nope\.txt: dataset file not found/);
    const short = join(work, 'short.txt');
    writeFileSync(short, 'Once upon a time there was a cat.\n');
    const tooShort = await cli(oneshot, ['--model', MODEL, '--recipe', gptq, '--output', out, '--dataset', short, ...TINY]);
    expect(tooShort.code).toBe(2);
    expect(tooShort.err).toMatch(/fewer than maxSeqLength=64 tokens/);
    const busy = join(work, 'busy');
    mkdirSync(busy, { recursive: true });
    writeFileSync(join(busy, 'keep.txt'), 'x');
    const refused = await cli(oneshot, ['--model', MODEL, '--recipe', gptq, '--output', busy, '--dataset', CALIB, ...TINY]);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/busy: output folder exists and is not empty; pass --overwrite/);
    expect(readdirSync(busy)).toEqual(['keep.txt']);
    const noMatch = await cli(oneshot, ['--model', MODEL, '--recipe', recipe('nomatch.yaml', GPTQ_RECIPE.replace('[Linear]', '[re:.*nothing_here$]')), '--output', out, '--dataset', CALIB, ...TINY]);
    expect(noMatch.code).toBe(2);
    expect(noMatch.err).toMatch(/nomatch\.yaml: .*GPTQModifier was unable to find any modules/);
    expect(existsSync(out)).toBe(false);
  });

  it('GPTQ W4 channel: per-module losses on stderr and in --json; the output loads in wgc eval with a finite perplexity', async () => {
    const out = join(work, 'gptq');
    mkdirSync(out);
    writeFileSync(join(out, 'old.txt'), 'replaced by --overwrite');
    const r = await cli(oneshot, ['--model', MODEL, '--recipe', recipe('gptq.yaml', GPTQ_RECIPE), '--dataset', CALIB, ...TINY, '--output', out, '--overwrite', '--json']);
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out);
    expect(s.pipeline).toBe('sequential');
    expect(s.modifiers).toEqual(['GPTQModifier']);
    expect(s.calibration).toMatchObject({ samples: 4, requestedSamples: 4, maxSeqLength: 64, tokens: 256, seed: 42, mode: 'windows' });
    // 5 decoder layers × 7 Linears; lm_head ignored.
    const gptq = s.modules.filter((m: { modifier: string }) => m.modifier === 'GPTQModifier');
    expect(gptq).toHaveLength(35);
    for (const m of gptq) {
      expect(Number.isFinite(m.error) && m.error >= 0, m.module).toBe(true);
      expect(m.samples).toBe(4);
    }
    expect(s.modulesQuantized).toBe(35);
    expect(s.sparsity).toBeNull();
    expect(s.peakGpuBytes).toBeGreaterThan(0);
    expect(s.seconds).toBeGreaterThan(0);
    // Progress per layer went to stderr, not stdout.
    expect(r.err).toMatch(/\[GPTQModifier model\.layers\.0\.self_attn\.q_proj\] .*error/);
    expect(r.err).toMatch(/sequential subgraphs 5\/5/);
    const files = readdirSync(out);
    expect(files).not.toContain('old.txt');
    expect(files).toEqual(expect.arrayContaining(['config.json', 'recipe.yaml', 'tokenizer.json', 'model.safetensors']));
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).quantization_config.config_groups.group_0.weights).toMatchObject({ num_bits: 4, strategy: 'channel' });
    const ev = await cli(evaluate, ['--model', out, '--dataset', EVAL, '--doc-separator', '<|endoftext|>', '--max-seq-length', '64', '--max-windows', '4', '--json']);
    expect(ev.code, ev.err).toBe(0);
    const ppl = JSON.parse(ev.out).perplexity;
    expect(Number.isFinite(ppl)).toBe(true);
    expect(ppl).toBeGreaterThan(1);
    expect(ppl).toBeLessThan(50);
  }, 120_000);

  it('SparseGPT 2:4: the summary reports 50% sparsity on every targeted layer and globally', async () => {
    const out = join(work, 'sparse');
    const r = await cli(oneshot, ['--model', MODEL, '--recipe', recipe('sparsegpt.yaml', SPARSEGPT_RECIPE), '--dataset', CALIB, ...TINY, '--output', out]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/sparsity {4}50\.00% of the weights of 35 pruned modules/);
    expect(r.out).toMatch(/model\.layers\.4\.mlp\.down_proj +50\.00%/);
    expect(r.out).toMatch(/calibration 4 samples × 64 tokens = 256 tokens/);
    const j = await cli(oneshot, ['--model', MODEL, '--recipe', join(work, 'sparsegpt.yaml'), '--dataset', CALIB, ...TINY, '--output', out, '--overwrite', '--json', '--log-level', 'warning']);
    expect(j.code, j.err).toBe(0);
    expect(j.err).not.toMatch(/SparseGPTModifier model\.layers/);
    const s = JSON.parse(j.out);
    expect(s.sparsity.global).toBeCloseTo(0.5, 3);
    expect(s.sparsity.modules).toHaveLength(35);
    for (const m of s.sparsity.modules) expect(m.sparsity, m.name).toBeCloseTo(0.5, 3);
    expect(s.modulesQuantized).toBe(0);
  }, 120_000);
});

describe.skipIf(!present)('wgc oneshot --scheme FP8 --dataset', () => {
  it('a data-free recipe that is not one QuantizationModifier (magnitude 2:4) runs without --dataset', async () => {
    const out = join(work, 'magnitude');
    const yaml = `sparsity_stage:\n  sparsity_modifiers:\n    MagnitudePruningModifier: {targets: ['re:model\\.layers\\..*_proj$'], init_sparsity: 0.5, final_sparsity: 0.5, mask_structure: "2:4"}\n`;
    const r = await cli(oneshot, ['--model', MODEL, '--recipe', recipe('magnitude.yaml', yaml), '--output', out, '--json']);
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out);
    expect(s.pipeline).toBe('datafree');
    expect(s.calibration).toBeNull();
    expect(s.sparsity.global).toBeCloseTo(0.5, 3);
  });

  it('calibrates the static input scales: every quantized Linear gets input_scale', async () => {
    const out = join(work, 'fp8');
    const r = await cli(oneshot, ['--model', MODEL, '--scheme', 'FP8', '--dataset', CALIB, ...TINY, '--output', out, '--json', '--log-level', 'warning']);
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out);
    expect(s.pipeline).toBe('sequential');
    expect(s.modulesQuantized).toBe(35);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).quantization_config;
    expect(config.config_groups.group_0.input_activations).toMatchObject({ num_bits: 8, type: 'float', dynamic: false, strategy: 'tensor' });
    const st = readFileSync(join(out, 'model.safetensors'));
    const header = JSON.parse(st.subarray(8, 8 + Number(st.readBigUInt64LE(0))).toString('utf8')) as Record<string, unknown>;
    const scales = Object.keys(header).filter((k) => k.endsWith('.input_scale'));
    expect(scales).toHaveLength(35);
    expect(scales).toContain('model.layers.0.self_attn.q_proj.input_scale');
  }, 120_000);
});

describe.skipIf(!present)('oneshot({ model: path }) from webgpu-compressor/node', () => {
  const hardware = useHardware();
  it('uses the loader src/node.ts registers: calibrates, saves a checkpoint with the tokenizer files', async () => {
    const node = await import('../../src/node.js');
    const hw = await hardware();
    const out = join(work, 'api');
    const data = await node.loadCalibrationData(MODEL, CALIB, { docSeparator: '<|endoftext|>' });
    const r = await inErrorScope(hw, () =>
      node.oneshot({
        model: MODEL, hardware: hw, recipe: SPARSEGPT_RECIPE, dataset: data, numCalibrationSamples: 2, maxSeqLength: 32,
        outputDir: out, loggers: node.LoggerManager.silent(),
      }),
    );
    expect(r.pipeline).toBe('sequential');
    await r.model.dispose?.();
    expect(readdirSync(out)).toEqual(expect.arrayContaining(['config.json', 'recipe.yaml', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors']));
  });
});
