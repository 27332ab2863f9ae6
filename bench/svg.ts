/**
 * Charts as hand-written SVG: a bar chart of throughput against the device
 * ceiling per kernel, and line charts of time and memory against model size
 * for the scenarios. About 200 lines with no dependency, deterministic output
 * (fixed decimals, no timestamps or random ids) so two runs' charts diff
 * cleanly and the tests can check them on fixed inputs.
 */
import type { BenchDocument, ResultEntry } from './report.js';
import { formatNumber } from './report.js';

const FONT = 'font-family="system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif"';
const COLORS = ['#4477aa', '#cc6677', '#228833', '#ccbb44', '#66ccee', '#aa3377', '#bbbbbb', '#ee7733'];

/** Escapes text for SVG element content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function n(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${n(x)}" y="${n(y)}" ${attrs}>${escapeXml(s)}</text>`;
}

function svgDoc(width: number, height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/**
 * Horizontal bars: each entry's throughput as a fraction of its ceiling
 * (copy for bandwidth-bound, matmul for arithmetic-bound), with the ceiling
 * drawn at 100 %.
 */
export function ceilingChart(doc: Pick<BenchDocument, 'entries' | 'ceilings' | 'adapter'>): string {
  const rows = doc.entries.filter((e) => e.fraction !== null && e.group !== 'scenarios');
  const labelW = 330;
  const plotW = 460;
  const rowH = 22;
  const top = 56;
  const width = labelW + plotW + 190;
  const height = top + Math.max(1, rows.length) * rowH + 50;
  const maxFrac = Math.max(1, ...rows.map((e) => e.fraction ?? 0)) * 1.05;
  const x = (f: number) => labelW + (f / maxFrac) * plotW;
  const title = `Throughput against the device ceiling — ${doc.adapter.vendor} ${doc.adapter.architecture}`;
  const body: string[] = [
    text(12, 22, title, 'font-size="15" font-weight="600"'),
    text(12, 40, `ceilings: copy ${formatNumber(doc.ceilings.copyGBps)} GB/s (read + write), f32 matmul ${formatNumber(doc.ceilings.matmulGFLOPs)} GFLOP/s`, 'fill="#555555"'),
  ];
  for (const f of [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2].filter((v) => v <= maxFrac)) {
    body.push(`<line x1="${n(x(f))}" y1="${top - 4}" x2="${n(x(f))}" y2="${top + rows.length * rowH}" stroke="${f === 1 ? '#222222' : '#dddddd'}" stroke-width="${f === 1 ? 1.5 : 1}"${f === 1 ? ' stroke-dasharray="4 3"' : ''}/>`);
    body.push(text(x(f), top + rows.length * rowH + 16, `${Math.round(f * 100)}%`, 'text-anchor="middle" fill="#555555"'));
  }
  body.push(text(x(1) + 4, top - 8, 'ceiling', 'fill="#222222"'));
  rows.forEach((e, i) => {
    const y = top + i * rowH;
    const color = e.ceiling === 'copy' ? COLORS[0] : COLORS[1];
    body.push(text(labelW - 8, y + 15, e.name, 'text-anchor="end"'));
    body.push(`<rect x="${labelW}" y="${y + 4}" width="${n(Math.max(0.5, x(e.fraction ?? 0) - labelW))}" height="${rowH - 8}" fill="${color}"/>`);
    body.push(text(x(e.fraction ?? 0) + 6, y + 15, `${formatNumber(e.throughput)} ${e.ceiling === 'copy' ? 'GB/s' : 'GFLOP/s'} · ${Math.round((e.fraction ?? 0) * 100)}%`, 'fill="#333333" stroke="#ffffff" stroke-width="3" paint-order="stroke"'));
  });
  const ly = height - 18;
  body.push(`<rect x="${labelW}" y="${ly - 10}" width="12" height="12" fill="${COLORS[0]}"/>`, text(labelW + 18, ly, 'bandwidth-bound (vs copy)'));
  body.push(`<rect x="${labelW + 200}" y="${ly - 10}" width="12" height="12" fill="${COLORS[1]}"/>`, text(labelW + 218, ly, 'arithmetic-bound (vs f32 matmul)'));
  return svgDoc(width, height, title, body);
}

export interface Series {
  label: string;
  points: [number, number][];
  dashed?: boolean;
  /** Index into the palette; default the series' position. */
  color?: number;
}

export interface LineChartSpec {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  formatX: (v: number) => string;
  formatY: (v: number) => string;
}

function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let p = Math.floor(Math.log10(lo)); p <= Math.ceil(Math.log10(hi)); p++) {
    for (const m of [1, 3]) {
      const v = m * 10 ** p;
      if (v >= lo / 1.0001 && v <= hi * 1.0001) ticks.push(v);
    }
  }
  return ticks;
}

/** A log–log line chart (model sizes and costs span decades). */
export function lineChart(spec: LineChartSpec): string {
  const width = 860;
  const height = 440;
  const left = 86;
  const right = 270;
  const top = 60;
  const bottom = 56;
  const pts = spec.series.flatMap((s) => s.points).filter(([a, b]) => a > 0 && b > 0);
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const [x0, x1] = pts.length ? [Math.min(...xs) / 1.5, Math.max(...xs) * 1.5] : [1, 10];
  const [y0, y1] = pts.length ? [Math.min(...ys) / 1.5, Math.max(...ys) * 1.5] : [1, 10];
  const px = (v: number) => left + ((Math.log10(v) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0))) * (width - left - right);
  const py = (v: number) => height - bottom - ((Math.log10(v) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0))) * (height - top - bottom);
  const body: string[] = [text(12, 22, spec.title, 'font-size="15" font-weight="600"')];
  if (spec.subtitle) body.push(text(12, 40, spec.subtitle, 'fill="#555555"'));
  body.push(`<rect x="${left}" y="${top}" width="${width - left - right}" height="${height - top - bottom}" fill="none" stroke="#999999"/>`);
  for (const t of logTicks(x0, x1)) {
    body.push(`<line x1="${n(px(t))}" y1="${top}" x2="${n(px(t))}" y2="${height - bottom}" stroke="#eeeeee"/>`);
    body.push(text(px(t), height - bottom + 16, spec.formatX(t), 'text-anchor="middle" fill="#555555"'));
  }
  for (const t of logTicks(y0, y1)) {
    body.push(`<line x1="${left}" y1="${n(py(t))}" x2="${width - right}" y2="${n(py(t))}" stroke="#eeeeee"/>`);
    body.push(text(left - 6, py(t) + 4, spec.formatY(t), 'text-anchor="end" fill="#555555"'));
  }
  body.push(text((left + width - right) / 2, height - 14, spec.xLabel, 'text-anchor="middle"'));
  body.push(text(16, (top + height - bottom) / 2, spec.yLabel, `text-anchor="middle" transform="rotate(-90 16 ${n((top + height - bottom) / 2)})"`));
  spec.series.forEach((s, i) => {
    const color = COLORS[(s.color ?? i) % COLORS.length];
    const p = s.points.filter(([a, b]) => a > 0 && b > 0).sort((a, b) => a[0] - b[0]);
    if (p.length > 1) body.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${p.map(([a, b]) => `${n(px(a))},${n(py(b))}`).join(' ')}"/>`);
    for (const [a, b] of p) body.push(`<circle cx="${n(px(a))}" cy="${n(py(b))}" r="3.5" fill="${color}"><title>${escapeXml(`${s.label}: ${spec.formatX(a)} → ${spec.formatY(b)}`)}</title></circle>`);
    const ly = top + 8 + i * 20;
    body.push(`<line x1="${width - right + 14}" y1="${ly}" x2="${width - right + 38}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    body.push(text(width - right + 44, ly + 4, s.label));
  });
  if (!pts.length) body.push(text((left + width - right) / 2, (top + height - bottom) / 2, 'no scenario results in this run', 'text-anchor="middle" fill="#999999"'));
  return svgDoc(width, height, spec.title, body);
}

/** Scenario name without its model size: `scenario.oneshot.W4A16.1b` → `oneshot.W4A16`. */
export function scenarioKind(e: ResultEntry): string {
  const size = String(e.extra.size ?? '');
  return e.name.replace(/^scenario\./, '').split('.').filter((p) => p !== size).join('.');
}

/** One series per scenario kind (colour by kind, so RSS and GPU of a kind match). */
function groupSeries(entries: ResultEntry[], value: (e: ResultEntry) => number, suffix = '', dashed = false): Series[] {
  const kinds = [...new Set(entries.map(scenarioKind))];
  const by = new Map<string, [number, number][]>();
  for (const e of entries) {
    const k = scenarioKind(e);
    if (!by.has(k)) by.set(k, []);
    by.get(k)!.push([Number(e.extra.parameters), value(e)]);
  }
  return [...by].map(([kind, points]) => ({ label: kind + suffix, points, dashed, color: kinds.indexOf(kind) }));
}

/** Tick labels: up to 3 significant digits, no trailing zeros. */
function compact(v: number, units: [number, string][]): string {
  for (const [scale, unit] of units) {
    if (v >= scale) return `${Number((v / scale).toPrecision(3))}${unit}`;
  }
  return `${Number(v.toPrecision(3))}${units[units.length - 1][1]}`;
}

function formatParams(v: number): string {
  return compact(v, [[1e9, 'B'], [1e6, 'M'], [1e3, 'k']]);
}

function formatSeconds(v: number): string {
  return compact(v, [[1, ' s'], [1e-3, ' ms']]);
}

function formatTickBytes(v: number): string {
  return compact(v, [[1e9, ' GB'], [1e6, ' MB'], [1e3, ' kB']]);
}

/** Wall time of every scenario against model size. */
export function scenarioTimeChart(doc: Pick<BenchDocument, 'entries' | 'adapter'>): string {
  const s = doc.entries.filter((e) => e.group === 'scenarios');
  return lineChart({
    title: 'End-to-end time against model size',
    subtitle: `${doc.adapter.vendor} ${doc.adapter.architecture}; synthetic Llama-shaped models; median wall seconds per process`,
    xLabel: 'parameters', yLabel: 'wall time',
    series: groupSeries(s, (e) => e.median), formatX: formatParams, formatY: formatSeconds,
  });
}

/** Peak resident host memory (solid) and peak engine GPU bytes (dashed) against model size. */
export function scenarioMemoryChart(doc: Pick<BenchDocument, 'entries' | 'adapter'>): string {
  const s = doc.entries.filter((e) => e.group === 'scenarios');
  return lineChart({
    title: 'Peak memory against model size',
    subtitle: 'solid: peak resident host memory of the process; dashed: peak GPU bytes allocated by the engine',
    xLabel: 'parameters', yLabel: 'bytes',
    series: [...groupSeries(s, (e) => Number(e.extra.peakRssBytes), ' RSS'), ...groupSeries(s, (e) => Number(e.extra.peakGpuBytes), ' GPU', true)],
    formatX: formatParams, formatY: formatTickBytes,
  });
}

/** Every chart of a run, by file name. */
export function chartsOf(doc: BenchDocument): Record<string, string> {
  return {
    'ceilings.svg': ceilingChart(doc),
    'scenarios-time.svg': scenarioTimeChart(doc),
    'scenarios-memory.svg': scenarioMemoryChart(doc),
  };
}
