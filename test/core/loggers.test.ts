import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConsoleLogger } from '../../src/loggers/console.js';
import { createJsonLinesFileLogger } from '../../src/loggers/file.js';
import { JsonLinesLogger } from '../../src/loggers/jsonl.js';
import { LoggerManager } from '../../src/loggers/manager.js';

describe('loggers', () => {
  it('console logger: levels and human lines', () => {
    const lines: string[] = [];
    const m = new LoggerManager([new ConsoleLogger({ level: 'info', write: (l) => lines.push(l) })]);
    m.debug('hidden');
    m.info('starting', { modifier: 'GPTQModifier' });
    m.warning('careful');
    m.metric('perplexity', 12.3456, { unit: 'ppl' });
    m.layer({ modifier: 'GPTQModifier', layer: 'model.layers.0.mlp.down_proj', seconds: 0.25, error: 0.00123, memoryBytes: 3 * 1024 * 1024 });
    m.progress('layers', 3, 8);
    expect(lines).toEqual([
      '[GPTQModifier] starting',
      'WARNING: careful',
      'perplexity = 12.35 ppl',
      '[GPTQModifier model.layers.0.mlp.down_proj] 0.250 s, error 0.00123, gpu 3.0 MiB',
      'layers 3/8',
    ]);
  });

  it('JSON-lines logger writes one parseable record per line', async () => {
    const lines: string[] = [];
    let closed = false;
    const m = new LoggerManager([new JsonLinesLogger((l) => lines.push(l), { close: () => void (closed = true) })]);
    m.layer({ modifier: 'GPTQModifier', layer: 'model.layers.1.self_attn.q_proj', seconds: 1.5, error: 0.02, memoryBytes: 4096, extra: { samples: 512 } });
    m.debug('kept at debug');
    await m.close();
    expect(closed).toBe(true);
    const recs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(recs[0]).toMatchObject({ type: 'layer', modifier: 'GPTQModifier', layer: 'model.layers.1.self_attn.q_proj', seconds: 1.5, error: 0.02, memoryBytes: 4096, extra: { samples: 512 } });
    expect(typeof recs[0].time).toBe('number');
    expect(recs[1]).toMatchObject({ type: 'message', level: 'debug', message: 'kept at debug' });
  });

  it('file logger appends JSON lines; timed() records seconds and the returned error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wgc-log-'));
    try {
      const path = join(dir, 'metrics.jsonl');
      const m = new LoggerManager([createJsonLinesFileLogger(path)]);
      const r = await m.timed({ modifier: 'M', layer: 'l0' }, async () => ({ error: 0.5 }));
      expect(r).toEqual({ error: 0.5 });
      await m.close();
      const recs = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(recs).toHaveLength(1);
      expect(recs[0]).toMatchObject({ type: 'layer', modifier: 'M', layer: 'l0', error: 0.5 });
      expect(recs[0].seconds).toBeGreaterThanOrEqual(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
