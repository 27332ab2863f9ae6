import { describe, it, expect, vi, afterEach } from 'vitest';
import { mkdtemp, rm, writeFile, mkdir, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/cli/commands/inspect.js';
import { stories260K, rawSafetensors } from './helpers.js';

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

const tmp: string[] = [];
afterEach(async () => {
  for (const d of tmp.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('wgc inspect', () => {
  it.skipIf(!stories260K)('lists the 48 tensors of stories260K with totals and no problems', async () => {
    const { code, out } = await capture([stories260K as string]);
    expect(code).toBe(0);
    const rows = out.split('\n').filter((l) => /^(lm_head|model)\.\S+\s+F32\s+\[/.test(l));
    expect(rows.length).toBe(48);
    expect(out).toMatch(/model\.embed_tokens\.weight\s+F32\s+\[512, 64\]\s+131072/);
    expect(out).toContain('tensors      48, 1171200 bytes');
    expect(out).toContain('LlamaForCausalLM (llama): 5 layers, hidden 64, heads 8/4 kv, vocab 512');
    expect(out).toContain('quantization none');
    expect(out).toContain('problems     none');
    // layers in natural order
    expect(out.indexOf('model.layers.0.')).toBeLessThan(out.indexOf('model.layers.4.'));
  });

  it.skipIf(!stories260K)('--json, and a single .safetensors file', async () => {
    const { code, out } = await capture([join(stories260K as string, 'model.safetensors'), '--json']);
    expect(code).toBe(0);
    const r = JSON.parse(out);
    expect(r.kind).toBe('file');
    expect(r.tensors.length).toBe(48);
    expect(r.totals.byDtype.F32).toEqual({ tensors: 48, bytes: 1171200 });
    expect(r.tensors.find((t: { name: string }) => t.name === 'model.norm.weight')).toEqual({ name: 'model.norm.weight', dtype: 'F32', shape: [64], bytes: 256, file: join(stories260K as string, 'model.safetensors') });
  });

  it.skipIf(!stories260K)('reports problems (exit 1) and unreadable input (exit 2)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wgc-inspect-'));
    tmp.push(dir);
    await mkdir(join(dir, 'm'));
    await copyFile(join(stories260K as string, 'model.safetensors'), join(dir, 'm', 'model.safetensors'));
    await writeFile(join(dir, 'm', 'config.json'), JSON.stringify({ architectures: ['LlamaForCausalLM'], hidden_size: 64, num_attention_heads: 8, num_hidden_layers: 4, vocab_size: 512 }));
    const a = await capture([join(dir, 'm')]);
    expect(a.code).toBe(1);
    expect(a.out).toContain('5 decoder layers but config.json says num_hidden_layers 4');
    await writeFile(join(dir, 'bad.safetensors'), rawSafetensors('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', new Uint8Array(8)));
    const b = await capture([join(dir, 'bad.safetensors')]);
    expect(b.code).toBe(2);
    expect(b.err).toContain('bad.safetensors: tensor "w": data_offsets [0, 8] span 8 bytes but F32 [3] needs 12 bytes');
    expect((await capture([join(dir, 'nope')])).code).toBe(2);
    expect((await capture([])).code).toBe(2);
    expect((await capture(['--bogus', 'x'])).code).toBe(2);
  });
});
