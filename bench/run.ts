/**
 * `npm run bench -- [--quick] [--large] [--only PATTERN] [--json FILE] [--markdown FILE] [--svg DIR] [--png]`
 * `npm run bench -- --compare A.json B.json [--markdown FILE] [--json FILE]`
 * `npm run bench -- --from RUN.json [--markdown FILE] [--svg DIR] [--png]`
 *
 * Measures the device's ceilings first (copy bandwidth counting read + write
 * bytes; best f32 matmul GFLOP/s), then every kernel module (bench/kernels.ts
 * and the modules other areas add: quantize, forward, gptq), then the
 * end-to-end scenarios on synthetic models, each in its own process. Every
 * entry is reported with its median, spread and fraction of its ceiling.
 * Numbers here are measurements, never expectations of a timed test.
 */
import { parseArgs } from 'node:util';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Hardware } from '../src/gpu/hardware.js';
import type { BenchEntry, BenchOptions } from './types.js';
import { benchCopy, benchTransfers, benchDispatchOverhead, benchMatmul } from './ceilings.js';
import { releaseTimer } from './measure.js';
import { acquireBenchHardware } from './hardware.js';
import { type BenchDocument, type Ceilings, type ResultEntry, type SkippedEntry, compareDocuments, compareMarkdown, formatNumber, formatPercent, toMarkdown, toResult } from './report.js';
import { chartsOf } from './svg.js';
import { defaultModelsDir, killScenarioProcesses, runScenarios } from './scenarios.js';

type BenchFn = (hw: Hardware, opts: BenchOptions) => Promise<BenchEntry[]>;

/**
 * Modules that add entries, in order; each exports a default (or `bench`)
 * async function. `words` are the entry-name prefixes a module produces, so
 * `--only` can skip modules it cannot match (unknown modules always run).
 */
const MODULES: { name: string; words: string[] }[] = [
  { name: 'kernels', words: ['quantize', 'cast', 'reduce'] },
  { name: 'quantize', words: ['quantize', 'oneshot', 'pack', 'observe'] },
  { name: 'forward', words: ['forward', 'sequential'] },
  { name: 'gptq', words: ['gptq', 'hessian', 'cholesky', 'sparsegpt', 'wanda'] },
];

async function loadModule(name: string): Promise<BenchFn | undefined> {
  const url = new URL(`./${name}.js`, import.meta.url);
  if (!existsSync(fileURLToPath(url))) return undefined;
  const mod = (await import(url.href)) as Record<string, unknown>;
  const fn = mod.default ?? mod.bench ?? Object.values(mod).find((v) => typeof v === 'function');
  return typeof fn === 'function' ? (fn as BenchFn) : undefined;
}

/** The top-level `|` alternatives of a regular expression's source. */
export function alternatives(source: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    else if (c === '|' && depth === 0) {
      out.push(source.slice(start, i));
      start = i + 1;
    }
  }
  out.push(source.slice(start));
  return out;
}

/**
 * Whether `only` could select something a module named `name` produces
 * (module entries are only known after it ran): an alternative of the
 * pattern matches the module name or one of its entry prefixes, or names
 * one. Alternatives for scenarios (`scenario…`) select no module.
 */
export function mayMatch(only: RegExp | undefined, name: string, words: string[]): boolean {
  if (!only) return true;
  return alternatives(only.source).some((alt) => {
    if (/^\^?scenario/.test(alt)) return false;
    const re = new RegExp(alt, only.flags);
    return [name, ...words].some((w) => re.test(w) || alt.includes(w));
  });
}

function writeAtomic(file: string, text: string): void {
  writeFileSync(file + '.tmp', text);
  renameSync(file + '.tmp', file);
}

function line(e: ResultEntry): string {
  // Same spread as the reports: (max − min) / median.
  const spread = ` ${formatPercent(e.spread)}`.padEnd(7);
  const frac = e.fraction === null ? '' : `  ${formatPercent(e.fraction).padStart(5)} of ${e.ceiling}`;
  return `${e.name.padEnd(52)} ${formatNumber(e.median).padStart(10)} ${e.unit.padEnd(9)}${spread}${e.timer === 'gpu' ? ' gpu' : '    '}${frac}`;
}

const USAGE = `usage: npm run bench -- [--quick] [--large] [--only PATTERN] [--json FILE] [--markdown FILE] [--svg DIR] [--png]
                         [--no-scenarios] [--reps N] [--models DIR] [--timeout S] [--budget S] [--seed N] [--adapter NAME]
       npm run bench -- --compare A.json B.json [--markdown FILE] [--json FILE]
       npm run bench -- --from RUN.json [--markdown FILE] [--svg DIR] [--png]   (reports of an earlier run)`;

async function compare(files: string[], values: { markdown?: string; json?: string }): Promise<number> {
  if (files.length !== 2) {
    console.error(`bench: --compare needs two JSON files\n${USAGE}`);
    return 2;
  }
  const [a, b] = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as BenchDocument);
  for (const [f, d] of [[files[0], a], [files[1], b]] as const) {
    if (!d || !Array.isArray(d.entries)) {
      console.error(`bench: ${f} is not a bench JSON (no "entries")`);
      return 2;
    }
  }
  const rows = compareDocuments(a, b);
  const md = compareMarkdown(rows, files[0], files[1]);
  console.log(md);
  if (values.markdown) writeAtomic(values.markdown, md);
  if (values.json) writeAtomic(values.json, JSON.stringify({ schema: 'wgc-bench-compare/1', a: files[0], b: files[1], rows }, null, 2) + '\n');
  return 0;
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        quick: { type: 'boolean', default: false },
        large: { type: 'boolean', default: false },
        only: { type: 'string' },
        json: { type: 'string' },
        markdown: { type: 'string' },
        svg: { type: 'string' },
        png: { type: 'boolean', default: false },
        compare: { type: 'boolean', default: false },
        from: { type: 'string' },
        'no-scenarios': { type: 'boolean', default: false },
        reps: { type: 'string' },
        models: { type: 'string' },
        timeout: { type: 'string' },
        budget: { type: 'string' },
        seed: { type: 'string', default: '0' },
        adapter: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    console.error(`bench: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.compare) return compare(positionals, values);
  if (values.from) {
    const doc = JSON.parse(readFileSync(values.from, 'utf8')) as BenchDocument;
    if (!doc || !Array.isArray(doc.entries)) {
      console.error(`bench: ${values.from} is not a bench JSON (no "entries")`);
      return 2;
    }
    await writeReports(doc, values);
    return 0;
  }
  if (positionals.length) {
    console.error(`bench: unexpected argument ${positionals[0]}\n${USAGE}`);
    return 2;
  }
  let only: RegExp | undefined;
  try {
    only = values.only ? new RegExp(values.only) : undefined;
  } catch (e) {
    console.error(`bench: --only: ${(e as Error).message}`);
    return 2;
  }
  const opts: BenchOptions = { quick: Boolean(values.quick), large: Boolean(values.large) };
  const budget = values.budget === undefined ? Infinity : Number(values.budget);
  if (!(budget > 0)) {
    console.error(`bench: --budget must be a positive number of seconds, got ${values.budget}`);
    return 2;
  }
  // Past the deadline, remaining modules and scenarios are skipped (and listed), and the reports are still written.
  const deadline = performance.now() + budget * 1000;
  const budgetReason = `time budget of ${budget} s (--budget) spent`;
  const loadStart = loadavg();
  const started = new Date().toISOString();
  const { hw, unquantizedTimestamps } = await acquireBenchHardware(values.adapter);
  const d = hw.describe();
  const results: ResultEntry[] = [];
  const skipped: SkippedEntry[] = [];
  let ceilings: Ceilings | undefined;
  const documentOf = (interrupted: boolean): BenchDocument | undefined => ceilings && {
    schema: 'wgc-bench/1',
    started,
    finished: new Date().toISOString(),
    quick: opts.quick,
    large: Boolean(opts.large),
    only: values.only ?? null,
    interrupted,
    host: {
      node: process.version, platform: process.platform, arch: process.arch, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown',
      totalMemoryBytes: totalmem(), loadAverageStart: loadStart, loadAverageEnd: loadavg(),
    },
    adapter: d.adapter,
    timestamps: !hw.caps.timestampQuery ? 'none' : unquantizedTimestamps ? 'exact' : 'quantized',
    features: d.features,
    limits: d.limits,
    ceilings,
    entries: results,
    skipped,
  };
  // Interrupted (a timeout, Ctrl-C): write what was measured, marked as interrupted, then stop.
  const workDir = join(tmpdir(), `wgc-bench-work-${process.pid}`);
  const onSignal = (signal: NodeJS.Signals): void => {
    killScenarioProcesses();
    rmSync(workDir, { recursive: true, force: true });
    const doc = documentOf(true);
    if (doc) {
      doc.skipped = [...skipped, { name: 'run', reason: `interrupted by ${signal}; entries after this point were not measured` }];
      if (values.json) writeAtomic(values.json, JSON.stringify(doc, null, 2) + '\n');
      if (values.markdown) writeAtomic(values.markdown, toMarkdown(doc));
      if (values.svg) writeCharts(doc, values.svg);
      console.log(`bench: interrupted by ${signal}; wrote the entries measured so far`);
    }
    process.exit(130);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  console.log(`adapter: ${d.adapter.vendor} ${d.adapter.architecture} ${d.adapter.description}${d.adapter.isFallbackAdapter ? ' (software)' : ''}; ${opts.quick ? 'quick' : 'full'}${opts.large ? ' + large' : ''}; load average ${loadStart.map((x) => x.toFixed(2)).join(' ')}`);
  try {
    // Ceilings first, always (every fraction needs them), whatever --only says.
    const copy = await benchCopy(hw, opts);
    const mm = await benchMatmul(hw, opts);
    const best = mm.reduce((a, b) => (b.value > a.value ? b : a));
    ceilings = { copyGBps: copy.value, copyEntry: copy.name, matmulGFLOPs: best.value, matmulEntry: best.name };
    const record = (list: BenchEntry[], group: string, filter: boolean): void => {
      for (const e of list) {
        if (filter && only && !only.test(e.name)) continue;
        const r = toResult(e, group, ceilings!);
        results.push(r);
        console.log(line(r));
      }
    };
    record([copy, ...mm], 'ceilings', false);
    // Each step starts with an empty buffer cache: on lavapipe, hundreds of
    // MiB of cached buffers left by one step made later kernels run up to 3×
    // slower (measured: quantize + pack W8A8 0.83 GB/s after the ceilings,
    // 2.7 after a trim, 2.7 alone).
    hw.pool.trim();
    if (mayMatch(only, 'ceilings', ['upload', 'readback', 'dispatch'])) {
      record(await benchTransfers(hw, opts), 'ceilings', true);
      record([await benchDispatchOverhead(hw, opts)], 'ceilings', true);
      hw.pool.trim();
    }
    for (const m of MODULES) {
      if (!mayMatch(only, m.name, m.words)) continue;
      const fn = await loadModule(m.name);
      if (!fn) continue;
      if (performance.now() > deadline) {
        skipped.push({ name: `module:${m.name}`, reason: budgetReason });
        console.log(`${`module:${m.name}`.padEnd(52)} skipped: ${budgetReason}`);
        continue;
      }
      try {
        record(await fn(hw, opts), m.name, true);
        hw.pool.trim();
      } catch (e) {
        const reason = e instanceof Error ? e.message : String(e);
        skipped.push({ name: `module:${m.name}`, reason: `FAILED: ${reason}` });
        console.log(`${`module ${m.name}`.padEnd(52)} FAILED: ${reason}`);
        await hw.sync().catch(() => undefined);
      }
    }
  } finally {
    releaseTimer(hw);
    // Scenarios run in their own processes, each with its own device: free this one first.
    await hw.destroy();
  }

  if (!values['no-scenarios']) {
    const reps = values.reps ? Number(values.reps) : opts.quick ? 1 : 2;
    const { entries, skipped: sk } = await runScenarios({
      quick: opts.quick, large: Boolean(opts.large), software: d.adapter.isFallbackAdapter,
      modelsDir: values.models ?? defaultModelsDir(), workDir,
      seed: Number(values.seed), reps: Number.isInteger(reps) && reps > 0 ? reps : 1, only,
      timeoutSeconds: values.timeout ? Number(values.timeout) : opts.quick ? 300 : 1800,
      deadline, budgetReason,
      log: (s) => console.log(s),
    });
    for (const e of entries) {
      const r = toResult(e, 'scenarios', ceilings!);
      results.push(r);
      console.log(line(r) + `  rss ${(Number(e.extra?.peakRssBytes) / 1e6).toFixed(0)} MB, gpu ${(Number(e.extra?.peakGpuBytes) / 1e6).toFixed(0)} MB`);
    }
    for (const s of sk) console.log(`${s.name.padEnd(52)} skipped: ${s.reason}`);
    skipped.push(...sk);
  }

  const doc = documentOf(false)!;
  console.log(`load average at end: ${doc.host.loadAverageEnd.map((x) => x.toFixed(2)).join(' ')}`);
  if (values.json) {
    writeAtomic(values.json, JSON.stringify(doc, null, 2) + '\n');
    console.log(`wrote ${values.json}`);
  }
  await writeReports(doc, values);
  return 0;
}

function writeCharts(doc: BenchDocument, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const [name, svg] of Object.entries(chartsOf(doc))) {
    const f = join(dir, name);
    writeAtomic(f, svg);
    files.push(f);
  }
  return files;
}

/** Markdown, SVG (and PNG) of a run. */
async function writeReports(doc: BenchDocument, values: { markdown?: string; svg?: string; png?: boolean }): Promise<void> {
  if (values.markdown) {
    writeAtomic(values.markdown, toMarkdown(doc));
    console.log(`wrote ${values.markdown}`);
  }
  if (values.svg) {
    const files = writeCharts(doc, values.svg);
    console.log(`wrote ${files.join(', ')}`);
    if (values.png) {
      try {
        const { renderPngs } = await import('./png.js');
        console.log(`wrote ${(await renderPngs(files)).join(', ')}`);
      } catch (e) {
        console.log(`PNG skipped: ${(e as Error).message}`);
      }
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`bench: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    process.exit(1);
  },
);
