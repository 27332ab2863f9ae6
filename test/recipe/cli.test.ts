/** `wgc recipe check FILE [--json]`, run in-process. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/commands/recipe.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'wgc-recipe-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function capture(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  try {
    const code = await run(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe('wgc recipe check', () => {
  it('prints stages and modifiers with every field resolved; exit 0', async () => {
    const file = join(FIXTURES, 'gptq_awq.yaml');
    const { code, out } = await capture(['check', file]);
    expect(code).toBe(0);
    expect(out).toContain(`${file}: valid recipe, 1 stage, 3 modifiers`);
    expect(out).toContain('pipeline: sequential (AWQModifier, GPTQModifier need calibration data)');
    expect(out).toContain('  quant_modifiers.QuantizationModifier  [data-free]');
    // Defaults filled in, including ones the recipe does not mention.
    expect(out).toContain('    n_grid: 20');
    expect(out).toContain('    bypass_divisibility_checks: false');
    expect(out).toContain('    offload_device: <cpu for MoE models, else none (decided at initialize)>');
    // The preset resolved.
    expect(out).toMatch(/resolves to:\n\s+config_groups:\n\s+group_0:\n\s+targets: \[re:\.\*self_attn\\\.\(k\|q\|o\|v\)_proj\$\]\n\s+weights:\n\s+num_bits: 4/);
  });

  it('--json gives every field and the resolved schemes', async () => {
    const { code, out } = await capture(['check', join(FIXTURES, 'fp8_kv_cache.yaml'), '--json']);
    expect(code).toBe(0);
    const j = JSON.parse(out) as { valid: boolean; pipeline: { inferred: string }; stages: { modifiers: { type: string; fields: Record<string, unknown>; resolved: Record<string, unknown> }[] }[] };
    expect(j.valid).toBe(true);
    expect(j.pipeline.inferred).toBe('sequential');
    const m = j.stages[0].modifiers[0];
    expect(m.type).toBe('QuantizationModifier');
    expect(m.fields.targets).toEqual(['Linear']);
    expect(m.fields.kv_cache_scheme).toMatchObject({ num_bits: 8, type: 'float', strategy: 'tensor', dynamic: false, symmetric: true });
    expect((m.resolved.kv_cache_scheme as Record<string, unknown>).observer).toBe('memoryless_minmax');
  });

  it('every reference fixture checks clean', async () => {
    for (const f of ['fp8_multiple_strategies.yaml', 'gptq_int4_int8.yaml', 'smoothquant_gptq_w8a8.yaml', 'sparse_24_fp8.yaml']) {
      expect((await capture(['check', join(FIXTURES, f)])).code).toBe(0);
    }
  });

  it('an invalid recipe: exit 2 with file:line:col and the error', async () => {
    const file = join(tmp, 'bad.yaml');
    writeFileSync(file, 'quant_stage:\n  quant_modifiers:\n    GPTQModifier:\n      blocksize: 64\n');
    const r = await capture(['check', file]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`wgc recipe check: ${file}:4:7: quant_stage.quant_modifiers.GPTQModifier.blocksize: unknown field (did you mean block_size?)`);
    const j = await capture(['check', file, '--json']);
    expect(j.code).toBe(2);
    expect(JSON.parse(j.out)).toMatchObject({ valid: false, error: { path: 'quant_stage.quant_modifiers.GPTQModifier.blocksize', line: 4, col: 7 } });
  });

  it('usage errors and a missing file: exit 2', async () => {
    expect((await capture([])).code).toBe(2);
    expect((await capture(['lint', 'x.yaml'])).code).toBe(2);
    expect((await capture(['check', '--bogus'])).code).toBe(2);
    const missing = await capture(['check', join(tmp, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('cannot read recipe file: no such file');
    expect((await capture(['--help'])).code).toBe(0);
  });
});
