// Hand-written SVG charts (bench/svg.ts) on fixed inputs: well-formed,
// deterministic, one bar per entry with a ceiling, escaped text, and the
// scenario charts' series.
import { describe, it, expect } from 'vitest';
import { ceilingChart, chartsOf, escapeXml, lineChart, scenarioKind, scenarioMemoryChart, scenarioTimeChart } from '../../bench/svg.js';
import { toResult, type BenchDocument } from '../../bench/report.js';
import type { BenchEntry } from '../../bench/types.js';

const CEILINGS = { copyGBps: 4, copyEntry: 'copy.vec4.32MiB', matmulGFLOPs: 10, matmulEntry: 'matmul.f32.NN.1024x1024x1024' };

/** Checks that every tag is closed in order and that text holds no raw `<` or bare `&`. */
function wellFormed(svg: string): void {
  const stack: string[] = [];
  const re = /<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/g;
  let consumed = 0;
  for (let m = re.exec(svg); m; m = re.exec(svg)) {
    if (m.index !== consumed) throw new Error(`unparsable markup at ${consumed}: ${svg.slice(consumed, consumed + 40)}`);
    consumed = re.lastIndex;
    const [, close, name, , selfClose, txt] = m;
    if (txt !== undefined) {
      if (/&(?!(amp|lt|gt|quot);)/.test(txt)) throw new Error(`bare & in text: ${txt}`);
      continue;
    }
    if (close) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
    } else if (!selfClose) stack.push(name);
  }
  expect(consumed).toBe(svg.length);
  expect(stack).toEqual([]);
}

function entry(e: BenchEntry, group: string) {
  return toResult(e, group, CEILINGS);
}

const ENTRIES = [
  entry({ name: 'copy.vec4.32MiB', unit: 'GB/s', value: 4, ceiling: 'copy' }, 'ceilings'),
  entry({ name: 'matmul.f32.NN.1024x1024x1024', unit: 'GFLOP/s', value: 10, ceiling: 'matmul' }, 'ceilings'),
  entry({ name: 'quantize.pack.W4A16.4096x4096', unit: 'GB/s', value: 3 }, 'kernels'),
  entry({ name: 'forward.<small>&co', unit: 'tokens/s', value: 400, extra: { gflops: 2.5 } }, 'forward'),
  entry({ name: 'dispatch.overhead', unit: 'us', value: 12 }, 'ceilings'),
  ...(['tiny', '125m', '1b'] as const).flatMap((size, i) => [
    entry({ name: `scenario.oneshot.W4A16.${size}`, unit: 's', value: 1 + 10 * i, ceiling: 'copy', extra: { size, parameters: [1.7e6, 1.25e8, 1.24e9][i], bytes: 4e6 * 10 ** i, peakRssBytes: 2e8 * (1 + i), peakGpuBytes: 1e7 * (1 + i) } }, 'scenarios'),
    entry({ name: `scenario.eval.${size}.seq128`, unit: 's', value: 2 + 20 * i, ceiling: 'matmul', extra: { size, parameters: [1.7e6, 1.25e8, 1.24e9][i], flops: 1e9, peakRssBytes: 3e8, peakGpuBytes: 5e7 } }, 'scenarios'),
  ]),
];

const DOC = {
  entries: ENTRIES, ceilings: CEILINGS,
  adapter: { vendor: 'mesa', architecture: 'software', device: 'llvmpipe', description: 'llvmpipe', isFallbackAdapter: true },
} as unknown as BenchDocument;

describe('escapeXml', () => {
  it('escapes markup characters', () => {
    expect(escapeXml('a<b>&"c"')).toBe('a&lt;b&gt;&amp;&quot;c&quot;');
  });
});

describe('ceilingChart', () => {
  const svg = ceilingChart(DOC);
  it('is well-formed SVG', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    wellFormed(svg);
  });
  it('has one bar per kernel entry with a ceiling (not scenarios, not latency entries)', () => {
    const bars = [...svg.matchAll(/<rect x="330" y="[\d.]+" width="([\d.]+)" height="14"/g)];
    expect(bars.length).toBe(4);
    // copy at 100 % and quantize at 75 % of copy: widths in that ratio.
    const w = bars.map((b) => Number(b[1]));
    expect(w[2] / w[0]).toBeCloseTo(0.75, 2);
    expect(svg).toContain('3.00 GB/s · 75%');
    expect(svg).toContain('2.50 GFLOP/s · 25%');
    expect(svg).not.toContain('dispatch.overhead');
    expect(svg).not.toContain('scenario.');
  });
  it('escapes entry names', () => {
    expect(svg).toContain('forward.&lt;small&gt;&amp;co');
  });
  it('is deterministic', () => {
    expect(ceilingChart(DOC)).toBe(svg);
  });
});

describe('scenario charts', () => {
  it('group scenarios by kind without the model size', () => {
    expect(scenarioKind(ENTRIES.find((e) => e.name === 'scenario.oneshot.W4A16.125m')!)).toBe('oneshot.W4A16');
    expect(scenarioKind(ENTRIES.find((e) => e.name === 'scenario.eval.1b.seq128')!)).toBe('eval.seq128');
  });
  it('time: one polyline of three points per kind, well-formed', () => {
    const svg = scenarioTimeChart(DOC);
    wellFormed(svg);
    const lines = [...svg.matchAll(/<polyline[^>]*points="([^"]+)"/g)];
    expect(lines.length).toBe(2);
    for (const l of lines) expect(l[1].split(' ').length).toBe(3);
    expect(svg).toContain('oneshot.W4A16');
    expect(svg).toContain('eval.seq128');
  });
  it('memory: RSS solid and GPU dashed series per kind', () => {
    const svg = scenarioMemoryChart(DOC);
    wellFormed(svg);
    expect(svg).toContain('oneshot.W4A16 RSS');
    expect(svg).toContain('oneshot.W4A16 GPU');
    expect([...svg.matchAll(/<polyline[^>]*stroke-dasharray/g)].length).toBe(2);
  });
  it('a run without scenarios still draws a labelled empty chart', () => {
    const svg = scenarioTimeChart({ ...DOC, entries: ENTRIES.filter((e) => e.group !== 'scenarios') });
    wellFormed(svg);
    expect(svg).toContain('no scenario results in this run');
  });
  it('chartsOf names every chart', () => {
    expect(Object.keys(chartsOf(DOC))).toEqual(['ceilings.svg', 'scenarios-time.svg', 'scenarios-memory.svg']);
  });
});

describe('lineChart', () => {
  it('places points on log axes: a decade is the same distance anywhere', () => {
    const svg = lineChart({
      title: 't', xLabel: 'x', yLabel: 'y', formatX: String, formatY: String,
      series: [{ label: 's', points: [[1, 1], [10, 10], [100, 100]] }],
    });
    wellFormed(svg);
    const pts = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(pts.length).toBe(3);
    expect(pts[1][0] - pts[0][0]).toBeCloseTo(pts[2][0] - pts[1][0], 0);
    expect(pts[0][1] - pts[1][1]).toBeCloseTo(pts[1][1] - pts[2][1], 0);
  });
});
