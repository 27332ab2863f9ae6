/**
 * The bench's results as data: every entry normalized to name, unit,
 * median, spread and fraction of its ceiling; the JSON document; the
 * Markdown table; and the comparison of two runs (`--compare A.json B.json`).
 * Pure functions, so they are tested on fixed inputs.
 */
import type { BenchEntry, Ceiling } from './types.js';

/** One entry as the JSON and the tables report it. */
export interface ResultEntry {
  name: string;
  unit: string;
  /** The reported figure: median over the repetitions. */
  median: number;
  /** (max − min) / median over the repetitions; 0 for one repetition. */
  spread: number;
  samples: number[] | null;
  timer: 'gpu' | 'wall' | null;
  /** The module or group that produced it (`ceilings`, `kernels`, `forward`, `scenarios`, …). */
  group: string;
  ceiling: Ceiling;
  /** The entry's throughput in the ceiling's unit (GB/s for copy, GFLOP/s for matmul). */
  throughput: number | null;
  /** throughput / ceiling; null when the entry has no ceiling or no work figure. */
  fraction: number | null;
  extra: Record<string, number | string>;
}

export interface Ceilings {
  copyGBps: number;
  copyEntry: string;
  matmulGFLOPs: number;
  matmulEntry: string;
}

export interface HostInfo {
  node: string;
  platform: string;
  arch: string;
  cpus: number;
  cpuModel: string;
  totalMemoryBytes: number;
  /** `os.loadavg()` (1, 5, 15 min) when the run started and when it finished. */
  loadAverageStart: number[];
  loadAverageEnd: number[];
}

export interface SkippedEntry {
  name: string;
  reason: string;
}

/** The JSON a run writes (`--json FILE`). */
export interface BenchDocument {
  schema: 'wgc-bench/1';
  started: string;
  finished: string;
  quick: boolean;
  large: boolean;
  only: string | null;
  /** True when the run was stopped by a signal before it finished (the entries are those measured until then). */
  interrupted?: boolean;
  host: HostInfo;
  adapter: { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter: boolean };
  /** GPU timestamps: `exact` (Dawn's 65.536 µs quantization turned off), `quantized`, or `none` (wall clock only). */
  timestamps?: 'exact' | 'quantized' | 'none';
  features: string[];
  limits: Record<string, number>;
  ceilings: Ceilings;
  entries: ResultEntry[];
  skipped: SkippedEntry[];
}

const TIME_UNITS: Record<string, number> = { s: 1, ms: 1e-3, us: 1e-6, 'µs': 1e-6, ns: 1e-9 };

/** The ceiling an entry is measured against: declared, else inferred from its unit or an `extra.gflops` figure. */
export function resolveCeiling(e: Pick<BenchEntry, 'unit' | 'ceiling' | 'extra'>): Ceiling {
  if (e.ceiling) return e.ceiling;
  if (e.unit === 'GB/s') return 'copy';
  if (e.unit === 'GFLOP/s') return 'matmul';
  if (typeof e.extra?.gflops === 'number') return 'matmul';
  return 'none';
}

/** The entry's throughput in its ceiling's unit, or null when it cannot be derived. */
export function entryThroughput(e: Pick<BenchEntry, 'unit' | 'value' | 'extra'>, ceiling: Ceiling): number | null {
  if (ceiling === 'none') return null;
  const want = ceiling === 'copy' ? 'GB/s' : 'GFLOP/s';
  if (e.unit === want) return e.value;
  if (ceiling === 'matmul' && typeof e.extra?.gflops === 'number') return e.extra.gflops;
  const perSecond = TIME_UNITS[e.unit];
  const work = ceiling === 'copy' ? e.extra?.bytes : e.extra?.flops;
  if (perSecond !== undefined && typeof work === 'number' && e.value > 0) return work / (e.value * perSecond) / 1e9;
  return null;
}

/** Normalizes a module's entry against the run's ceilings. */
export function toResult(e: BenchEntry, group: string, ceilings: Pick<Ceilings, 'copyGBps' | 'matmulGFLOPs'>): ResultEntry {
  const ceiling = resolveCeiling(e);
  const throughput = entryThroughput(e, ceiling);
  const limit = ceiling === 'copy' ? ceilings.copyGBps : ceiling === 'matmul' ? ceilings.matmulGFLOPs : 0;
  return {
    name: e.name,
    unit: e.unit,
    median: e.value,
    spread: e.spread ?? 0,
    samples: e.samples ?? null,
    timer: e.timer ?? null,
    group,
    ceiling,
    throughput,
    fraction: throughput !== null && limit > 0 ? throughput / limit : null,
    extra: e.extra ?? {},
  };
}

/** Units where a larger figure is better (rates); times and sizes are better smaller. */
export function higherIsBetter(unit: string): boolean {
  if (unit in TIME_UNITS) return false;
  return !/^(bytes|B|KiB|MiB|GiB|KB|MB|GB)$/.test(unit);
}

/** A number in at most 4 significant digits, without exponent for usual magnitudes. */
export function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a >= 1e-3) return v.toPrecision(3);
  return v.toExponential(2);
}

/** Bytes as MB/GB (decimal, as disk sizes are quoted). */
export function formatBytes(b: number | null | undefined): string {
  if (b === null || b === undefined || !Number.isFinite(b)) return '—';
  if (b >= 1e9) return `${(b / 1e9).toFixed(2)} GB`;
  if (b >= 1e6) return `${(b / 1e6).toFixed(1)} MB`;
  if (b >= 1e3) return `${(b / 1e3).toFixed(1)} kB`;
  return `${b} B`;
}

export function formatPercent(f: number | null | undefined): string {
  if (f === null || f === undefined || !Number.isFinite(f)) return '—';
  if (f === 0) return '0%';
  return `${(f * 100).toFixed(f < 0.1 ? 1 : 0)}%`;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function table(head: string[], rows: string[][]): string {
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) lines.push(`| ${r.map(cell).join(' | ')} |`);
  return lines.join('\n');
}

function figure(e: ResultEntry): string {
  return e.unit === 'bytes' ? formatBytes(e.median) : formatNumber(e.median);
}

/** The Markdown report of a run: context, ceilings, every entry, scenarios, skipped. */
export function toMarkdown(doc: BenchDocument): string {
  const d = doc;
  const la = (l: number[]) => l.map((x) => x.toFixed(2)).join(' / ');
  const out: string[] = [];
  out.push(`# Benchmark: ${d.adapter.vendor} ${d.adapter.architecture}${d.adapter.isFallbackAdapter ? ' (software adapter)' : ''}`);
  out.push('');
  out.push(`- adapter: ${d.adapter.description || d.adapter.device || '—'}`);
  out.push(`- run: ${d.started} → ${d.finished}, ${d.quick ? 'quick' : 'full'}${d.large ? ' + large' : ''}${d.only ? `, only \`${d.only}\`` : ''}${d.interrupted ? ' — **interrupted**: later entries missing' : ''}`);
  out.push(`- host: ${d.host.cpus} × ${d.host.cpuModel}, ${formatBytes(d.host.totalMemoryBytes)}, Node ${d.host.node}; load average (1/5/15 min) ${la(d.host.loadAverageStart)} at start, ${la(d.host.loadAverageEnd)} at end`);
  if (d.timestamps) out.push(`- timer: ${d.timestamps === 'exact' ? 'GPU timestamps (Dawn\'s quantization off)' : d.timestamps === 'quantized' ? 'GPU timestamps quantized to 65.536 µs (short work repeated per repetition)' : 'wall clock (no timestamp-query)'} where an entry says \`gpu\``);
  out.push(`- ceilings: copy **${formatNumber(d.ceilings.copyGBps)} GB/s** (\`${d.ceilings.copyEntry}\`, read + write), f32 matmul **${formatNumber(d.ceilings.matmulGFLOPs)} GFLOP/s** (best of \`matmul.*\`)`);
  out.push('');
  const kernels = d.entries.filter((e) => e.group !== 'scenarios');
  out.push('## Kernels and passes');
  out.push('');
  out.push('Median of the timed repetitions; spread = (max − min) / median; fraction = throughput / ceiling (bandwidth-bound entries against copy, arithmetic-bound against matmul).');
  out.push('');
  out.push(table(
    ['entry', 'median', 'unit', 'spread', 'timer', 'ceiling', 'throughput', 'of ceiling'],
    kernels.map((e) => [
      `\`${e.name}\``, figure(e), e.unit, formatPercent(e.spread), e.timer ?? '—', e.ceiling,
      e.throughput === null ? '—' : `${formatNumber(e.throughput)} ${e.ceiling === 'copy' ? 'GB/s' : 'GFLOP/s'}`, formatPercent(e.fraction),
    ]),
  ));
  const scen = d.entries.filter((e) => e.group === 'scenarios');
  if (scen.length) {
    out.push('');
    out.push('## End-to-end scenarios (synthetic Llama-shaped models, one process per run)');
    out.push('');
    out.push('Wall seconds of the whole process (start, load, work, write); rate: forward tokens/s as the command reports it for `eval`, else parameters per wall second; throughput: bytes of the checkpoint read per second (data-free, vs copy) or forward FLOPs per second (calibrated runs and eval, vs matmul).');
    out.push('');
    out.push(table(
      ['scenario', 'parameters', 'wall s', 'spread', 'peak RSS', 'peak GPU (engine)', 'rate', 'throughput', 'of ceiling'],
      scen.map((e) => [
        `\`${e.name}\``, formatNumber(Number(e.extra.parameters) / 1e6) + ' M', formatNumber(e.median), formatPercent(e.spread),
        formatBytes(Number(e.extra.peakRssBytes)), formatBytes(Number(e.extra.peakGpuBytes)),
        typeof e.extra['command.tokensPerSecond'] === 'number' ? `${formatNumber(e.extra['command.tokensPerSecond'])} tokens/s` : `${formatNumber(Number(e.extra.parametersPerSecond) / 1e6)} M params/s`,
        e.throughput === null ? '—' : `${formatNumber(e.throughput)} ${e.ceiling === 'copy' ? 'GB/s' : 'GFLOP/s'}`, formatPercent(e.fraction),
      ]),
    ));
  }
  if (d.skipped.length) {
    out.push('');
    out.push('## Skipped');
    out.push('');
    for (const s of d.skipped) out.push(`- \`${s.name}\`: ${s.reason}`);
  }
  out.push('');
  return out.join('\n');
}

/** One row of a comparison of two runs. */
export interface CompareRow {
  name: string;
  unit: string;
  a: number | null;
  b: number | null;
  /** b / a. */
  ratio: number | null;
  /** The ratio oriented so that above 1 means B is better (b/a for rates, a/b for times and sizes). */
  improvement: number | null;
  /** The change is smaller than the runs' own spread (half the sum of both spreads). */
  withinNoise: boolean;
}

/** Entries of A and B matched by name, in A's order then B's new ones. */
export function compareDocuments(a: Pick<BenchDocument, 'entries'>, b: Pick<BenchDocument, 'entries'>): CompareRow[] {
  const bm = new Map(b.entries.map((e) => [e.name, e]));
  const names = [...a.entries.map((e) => e.name), ...b.entries.map((e) => e.name).filter((n) => !a.entries.some((e) => e.name === n))];
  const am = new Map(a.entries.map((e) => [e.name, e]));
  return names.map((name) => {
    const ea = am.get(name);
    const eb = bm.get(name);
    const unit = (ea ?? eb)!.unit;
    const ratio = ea && eb && ea.median !== 0 ? eb.median / ea.median : null;
    const improvement = ratio === null || ratio === 0 ? null : higherIsBetter(unit) ? ratio : 1 / ratio;
    const noise = ((ea?.spread ?? 0) + (eb?.spread ?? 0)) / 2;
    return { name, unit, a: ea?.median ?? null, b: eb?.median ?? null, ratio, improvement, withinNoise: ratio !== null && Math.abs(ratio - 1) <= noise };
  });
}

/** The comparison as Markdown. */
export function compareMarkdown(rows: CompareRow[], aLabel: string, bLabel: string): string {
  const out = [`# Comparison: B = \`${bLabel}\` against A = \`${aLabel}\``, '', 'ratio = B / A; improvement > 1 means B is better (faster, or smaller for times and memory); "noise" marks changes within the runs\' own spread.', ''];
  out.push(table(
    ['entry', 'unit', 'A', 'B', 'ratio', 'improvement', ''],
    rows.map((r) => [`\`${r.name}\``, r.unit, formatNumber(r.a), formatNumber(r.b), r.ratio === null ? '—' : r.ratio.toFixed(3), r.improvement === null ? '—' : `${r.improvement.toFixed(3)}×`, r.ratio === null ? (r.a === null ? 'only in B' : 'only in A') : r.withinNoise ? 'noise' : '']),
  ));
  out.push('');
  return out.join('\n');
}
