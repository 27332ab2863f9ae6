import { describe, it, expect, vi, afterEach } from 'vitest';
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run as evalRun } from '../../src/cli/commands/eval.js';
import { run as generateRun } from '../../src/cli/commands/generate.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const shared = path.resolve(repoRoot, '..', 'shared');
const modelDir = path.join(shared, 'models', 'stories260K');
const present = existsSync(path.join(modelDir, 'model.safetensors'));
if (!present) console.warn(`skipping wgc eval/generate tests: ${modelDir} not found (../shared is absent)`);

/** Runs a command with console output captured. */
async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (out.push(String(s)), true));
  try {
    const code = await fn();
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
    write.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe('wgc eval / generate usage errors', () => {
  it('exit 2 with a message for missing or bad options', async () => {
    expect((await capture(() => evalRun([]))).code).toBe(2);
    const r = await capture(() => evalRun(['--model', 'x', '--dataset', 'y', '--max-seq-length', '0']));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--max-seq-length must be a positive integer/);
    expect((await capture(() => generateRun(['--model', 'x']))).err).toMatch(/--prompt is required/);
    const missing = await capture(() => evalRun(['--model', '/nonexistent/model', '--dataset', 'y']));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/\/nonexistent\/model/);
  });
});

describe.skipIf(!present)('wgc eval / generate on stories260K', () => {
  it('eval --json on a small JSONL dataset', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wgc-eval-'));
    try {
      const file = path.join(dir, 'd.jsonl');
      const story = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog.';
      writeFileSync(file, Array.from({ length: 12 }, (_, i) => JSON.stringify({ body: `${story} Day ${i}.` })).join('\n'));
      const r = await capture(() => evalRun(['--model', modelDir, '--dataset', file, '--text-field', 'body', '--max-seq-length', '64', '--max-windows', '3', '--json']));
      expect(r.code, r.err).toBe(0);
      const j = JSON.parse(r.out);
      expect(j.windows).toBe(3);
      expect(j.tokens).toBe(3 * 63);
      expect(j.perplexity).toBeGreaterThan(1);
      expect(j.perplexity).toBeLessThan(20);
      expect(j.perplexity).toBeCloseTo(Math.exp(j.meanNll), 10);
      const bad = await capture(() => evalRun(['--model', modelDir, '--dataset', file, '--max-seq-length', '64']));
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(/d\.jsonl:1: no string field "text"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('generate prints the greedy continuation', async () => {
    const r = await capture(() => generateRun(['--model', modelDir, '--prompt', 'Once upon a time', '--max-new-tokens', '16', '--json']));
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.ids.length).toBe(16);
    expect(j.text).toMatch(/^Once upon a time, there was a little girl named Lily/);
  });
});
