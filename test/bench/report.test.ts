// Normalizing entries against the ceilings, the Markdown report and the
// comparison of two runs (bench/report.ts), on fixed inputs.
import { describe, it, expect } from 'vitest';
import { compareDocuments, compareMarkdown, entryThroughput, formatBytes, formatNumber, higherIsBetter, resolveCeiling, toMarkdown, toResult, type BenchDocument, type ResultEntry } from '../../bench/report.js';
import type { BenchEntry } from '../../bench/types.js';

const CEILINGS = { copyGBps: 4, copyEntry: 'copy.vec4.32MiB', matmulGFLOPs: 10, matmulEntry: 'matmul.f32.NN.1024x1024x1024' };

describe('resolveCeiling', () => {
  it('a declared ceiling wins', () => {
    expect(resolveCeiling({ unit: 'GB/s', ceiling: 'none' })).toBe('none');
    expect(resolveCeiling({ unit: 's', ceiling: 'copy' })).toBe('copy');
  });
  it('is inferred from the unit or an extra.gflops figure', () => {
    expect(resolveCeiling({ unit: 'GB/s' })).toBe('copy');
    expect(resolveCeiling({ unit: 'GFLOP/s' })).toBe('matmul');
    expect(resolveCeiling({ unit: 'tokens/s', extra: { gflops: 3 } })).toBe('matmul');
    expect(resolveCeiling({ unit: 'bytes' })).toBe('none');
    expect(resolveCeiling({ unit: 'us' })).toBe('none');
  });
});

describe('entryThroughput', () => {
  it('rates in the ceiling unit are taken as they are', () => {
    expect(entryThroughput({ unit: 'GB/s', value: 3 }, 'copy')).toBe(3);
    expect(entryThroughput({ unit: 'GFLOP/s', value: 8 }, 'matmul')).toBe(8);
  });
  it('times become rates through extra.bytes or extra.flops', () => {
    expect(entryThroughput({ unit: 's', value: 2, extra: { bytes: 4e9 } }, 'copy')).toBe(2);
    expect(entryThroughput({ unit: 'ms', value: 500, extra: { flops: 5e9 } }, 'matmul')).toBe(10);
    expect(entryThroughput({ unit: 'us', value: 1000, extra: { bytes: 1e6 } }, 'copy')).toBeCloseTo(1, 12);
  });
  it('null without a work figure or without a ceiling', () => {
    expect(entryThroughput({ unit: 's', value: 2 }, 'copy')).toBeNull();
    expect(entryThroughput({ unit: 'GB/s', value: 2 }, 'none')).toBeNull();
    expect(entryThroughput({ unit: 'GB/s', value: 2 }, 'matmul')).toBeNull();
  });
});

describe('toResult', () => {
  it('carries name, unit, median, spread and the fraction of the ceiling', () => {
    const e: BenchEntry = { name: 'quantize.pack.W4A16.4096x4096', unit: 'GB/s', value: 3, spread: 0.1, samples: [2.9, 3, 3.2], timer: 'gpu' };
    const r = toResult(e, 'kernels', CEILINGS);
    expect(r).toMatchObject({ name: e.name, unit: 'GB/s', median: 3, spread: 0.1, ceiling: 'copy', throughput: 3, fraction: 0.75, timer: 'gpu', group: 'kernels' });
    expect(r.samples).toEqual([2.9, 3, 3.2]);
  });
  it('entries from older modules (no spread, samples, ceiling) still get every field', () => {
    const r = toResult({ name: 'forward.x.seq128', unit: 'tokens/s', value: 400, extra: { gflops: 2.5 } }, 'forward', CEILINGS);
    expect(r).toMatchObject({ median: 400, spread: 0, samples: null, timer: null, ceiling: 'matmul', throughput: 2.5, fraction: 0.25 });
    const m = toResult({ name: 'sequential.x.peakGpuBytes', unit: 'bytes', value: 1e6 }, 'forward', CEILINGS);
    expect(m).toMatchObject({ ceiling: 'none', throughput: null, fraction: null });
  });
  it('a scenario in seconds with bytes of work is measured against copy', () => {
    const r = toResult({ name: 'scenario.oneshot.W4A16.1b', unit: 's', value: 10, ceiling: 'copy', extra: { bytes: 2e9 } }, 'scenarios', CEILINGS);
    expect(r.throughput).toBeCloseTo(0.2, 12);
    expect(r.fraction).toBeCloseTo(0.05, 12);
  });
});

describe('formatting', () => {
  it('numbers and bytes', () => {
    expect(formatNumber(12345.6)).toBe('12346');
    expect(formatNumber(123.45)).toBe('123.5');
    expect(formatNumber(1.2345)).toBe('1.23');
    expect(formatNumber(0.012345)).toBe('0.0123');
    expect(formatNumber(null)).toBe('—');
    expect(formatBytes(1.5e9)).toBe('1.50 GB');
    expect(formatBytes(2.5e6)).toBe('2.5 MB');
  });
  it('units where smaller is better', () => {
    for (const u of ['s', 'ms', 'us', 'bytes']) expect(higherIsBetter(u)).toBe(false);
    for (const u of ['GB/s', 'GFLOP/s', 'tokens/s']) expect(higherIsBetter(u)).toBe(true);
  });
});

function doc(entries: ResultEntry[], skipped: { name: string; reason: string }[] = []): BenchDocument {
  return {
    schema: 'wgc-bench/1', started: '2026-11-29T10:00:00.000Z', finished: '2026-11-29T10:05:00.000Z', quick: true, large: false, only: null,
    host: { node: 'v20', platform: 'linux', arch: 'x64', cpus: 2, cpuModel: 'Xeon', totalMemoryBytes: 24e9, loadAverageStart: [6.5, 6, 5], loadAverageEnd: [5.5, 5, 5] },
    adapter: { vendor: 'mesa', architecture: 'software', device: 'llvmpipe', description: 'llvmpipe', isFallbackAdapter: true },
    features: [], limits: {}, ceilings: CEILINGS, entries, skipped,
  };
}

const KERNEL = toResult({ name: 'copy.vec4.32MiB', unit: 'GB/s', value: 4, spread: 0.1, ceiling: 'copy' }, 'ceilings', CEILINGS);
const SCEN = toResult({ name: 'scenario.oneshot.W4A16.tiny', unit: 's', value: 2, spread: 0, ceiling: 'copy', extra: { bytes: 4e6, parameters: 1.7e6, parametersPerSecond: 0.85e6, peakRssBytes: 2e8, peakGpuBytes: 1e7, size: 'tiny' } }, 'scenarios', CEILINGS);

describe('toMarkdown', () => {
  it('states the context, the ceilings, every entry, the scenarios and what was skipped', () => {
    const md = toMarkdown(doc([KERNEL, SCEN], [{ name: 'scenario.gptq.W4A16.tiny.n16', reason: 'wgc oneshot is not in this build yet' }]));
    expect(md).toContain('software adapter');
    expect(md).toContain('load average (1/5/15 min) 6.50 / 6.00 / 5.00 at start');
    expect(md).toContain('copy **4.00 GB/s**');
    expect(md).toContain('| `copy.vec4.32MiB` | 4.00 | GB/s | 10% | — | copy | 4.00 GB/s | 100% |');
    expect(md).toContain('| `scenario.oneshot.W4A16.tiny` | 1.70 M | 2.00 | 0% | 200.0 MB | 10.0 MB | 0.850 M params/s | 0.00200 GB/s | 0.1% |');
    expect(md).toContain('- `scenario.gptq.W4A16.tiny.n16`: wgc oneshot is not in this build yet');
  });
  it('escapes pipes inside cells', () => {
    const odd = toResult({ name: 'a|b', unit: 'GB/s', value: 1 }, 'kernels', CEILINGS);
    expect(toMarkdown(doc([odd]))).toContain('`a\\|b`');
  });
});

describe('compareDocuments', () => {
  const r = (name: string, unit: string, median: number, spread = 0) => toResult({ name, unit, value: median, spread }, 'kernels', CEILINGS);
  const a = doc([r('copy', 'GB/s', 4, 0.1), r('oneshot', 's', 10, 0.02), r('gone', 'GB/s', 1), r('flat', 'GB/s', 2, 0.2)]);
  const b = doc([r('copy', 'GB/s', 5, 0.1), r('oneshot', 's', 8, 0.02), r('new', 'us', 3), r('flat', 'GB/s', 2.1, 0.2)]);
  const rows = compareDocuments(a, b);
  it('matches entries by name: A order first, then entries only in B', () => {
    expect(rows.map((x) => x.name)).toEqual(['copy', 'oneshot', 'gone', 'flat', 'new']);
  });
  it('ratio is B / A; improvement is oriented so > 1 is better', () => {
    const copy = rows.find((x) => x.name === 'copy')!;
    expect(copy.ratio).toBeCloseTo(1.25, 12);
    expect(copy.improvement).toBeCloseTo(1.25, 12);
    const one = rows.find((x) => x.name === 'oneshot')!;
    expect(one.ratio).toBeCloseTo(0.8, 12);
    expect(one.improvement).toBeCloseTo(1.25, 12);
  });
  it('changes within the runs’ spread are marked as noise', () => {
    expect(rows.find((x) => x.name === 'flat')!.withinNoise).toBe(true);
    expect(rows.find((x) => x.name === 'copy')!.withinNoise).toBe(false);
  });
  it('entries in one run only have no ratio', () => {
    expect(rows.find((x) => x.name === 'gone')).toMatchObject({ a: 1, b: null, ratio: null, improvement: null });
    expect(rows.find((x) => x.name === 'new')).toMatchObject({ a: null, b: 3, ratio: null });
  });
  it('renders as a Markdown table', () => {
    const md = compareMarkdown(rows, 'a.json', 'b.json');
    expect(md).toContain('| `copy` | GB/s | 4.00 | 5.00 | 1.250 | 1.250× |  |');
    expect(md).toContain('| `oneshot` | s | 10.00 | 8.00 | 0.800 | 1.250× |  |');
    expect(md).toContain('| `gone` | GB/s | 1.00 | — | — | — | only in A |');
    expect(md).toContain('| `flat` | GB/s | 2.00 | 2.10 | 1.050 | 1.050× | noise |');
  });
});
