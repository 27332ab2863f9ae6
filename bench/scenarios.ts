/**
 * End-to-end scenarios on synthetic Llama-shaped models: each runs one `wgc`
 * command in a child process (`dist/bench/scenario.js`), so its wall time,
 * peak resident memory and the engine's peak GPU bytes are its own. A
 * scenario whose command or option is not in this build is skipped with the
 * reason, never faked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchEntry } from './types.js';
import { summarize } from './stats.js';
import { commandAvailable, type ScenarioResult } from './scenario.js';
import { SYNTHETIC_SIZES, syntheticLinearParameterCount, syntheticParameterCount, writeSyntheticModel, type SyntheticSize } from './synthetic.js';
import { randomIds } from './random.js';

export interface ScenarioPlanOptions {
  quick: boolean;
  large: boolean;
  /** True on a software adapter: calibrated scenarios stay on small models. */
  software: boolean;
  /** Where synthetic models are cached (generated once per size/seed/dtype). */
  modelsDir: string;
  /** Scratch space for outputs (deleted after each scenario). */
  workDir: string;
  seed: number;
  /** Repetitions of each scenario (each a fresh process). */
  reps: number;
  /** Keep only scenarios whose name matches. */
  only?: RegExp;
  /** Seconds before a scenario's process is killed. */
  timeoutSeconds: number;
  /** `performance.now()` after which no scenario starts (and running ones are cut at it). */
  deadline?: number;
  budgetReason?: string;
  log: (line: string) => void;
}

/** A scenario: a name, a model size and the `wgc` command line that runs it. */
export interface Scenario {
  readonly name: string;
  readonly size: SyntheticSize;
  readonly kind: 'oneshot' | 'gptq' | 'sparsegpt' | 'eval';
  readonly command: string;
  /** Arguments; `{model}`, `{out}`, `{data}`, `{recipe}` are filled in. */
  readonly args: readonly string[];
  /** Recipe YAML written to `{recipe}`. */
  readonly recipe?: string;
  /** Calibration / evaluation data: documents × tokens of pre-tokenized ids written to `{data}`. */
  readonly data?: { documents: number; tokens: number };
  /** Work per run, for the figure and the ceiling: bytes (data-free), FLOPs (forward). */
  readonly work: (p: { params: number; linear: number; lmHead: number; bytes: number }) => { bytes?: number; flops?: number; tokens?: number };
}

export interface SkippedScenario {
  name: string;
  reason: string;
}

const GPTQ_RECIPE = `quant_stage:
  quant_modifiers:
    GPTQModifier:
      targets: [Linear]
      ignore: [lm_head]
      scheme: W4A16
      block_size: 128
      dampening_frac: 0.01
`;

const SPARSEGPT_RECIPE = `sparsity_stage:
  sparsity_modifiers:
    SparseGPTModifier:
      sparsity: 0.5
      mask_structure: "2:4"
      targets: [Linear]
      ignore: [lm_head]
`;

/** The scenarios of a run, in order (small models first). */
export function planScenarios(o: Pick<ScenarioPlanOptions, 'quick' | 'large' | 'software'>): Scenario[] {
  const sizes: SyntheticSize[] = o.quick ? ['tiny', '125m'] : ['tiny', '125m', '1b'];
  if (o.large) sizes.push('3b', '8b');
  // Calibrated runs: GPTQ's per-layer Hessians and the forward passes are far slower on a CPU emulator.
  const calibrated: SyntheticSize[] = o.software ? (o.quick ? ['tiny'] : ['tiny', '125m']) : sizes;
  const samples = o.quick ? 16 : 64;
  const seq = o.quick || o.software ? 128 : 512;
  const out: Scenario[] = [];
  for (const size of sizes) {
    for (const scheme of ['W4A16', 'FP8_DYNAMIC']) {
      out.push({
        name: `scenario.oneshot.${scheme}.${size}`, size, kind: 'oneshot', command: 'oneshot',
        args: ['--model', '{model}', '--scheme', scheme, '--output', '{out}', '--overwrite', '--json'],
        // Read the checkpoint once and write the compressed one: bytes moved through the engine.
        work: ({ bytes }) => ({ bytes }),
      });
    }
    if (calibrated.includes(size)) {
      out.push({
        name: `scenario.gptq.W4A16.${size}.n${samples}`, size, kind: 'gptq', command: 'oneshot',
        args: ['--model', '{model}', '--recipe', '{recipe}', '--dataset', '{data}', '--num-calibration-samples', String(samples), '--max-seq-length', String(seq), '--output', '{out}', '--overwrite', '--json'],
        recipe: GPTQ_RECIPE, data: { documents: samples, tokens: seq },
        // Calibration forwards: 2 FLOPs per parameter and token, twice (calibration and propagation passes).
        work: ({ linear }) => ({ flops: 2 * 2 * linear * samples * seq, tokens: samples * seq }),
      });
      out.push({
        name: `scenario.sparsegpt.2of4.${size}.n${samples}`, size, kind: 'sparsegpt', command: 'oneshot',
        args: ['--model', '{model}', '--recipe', '{recipe}', '--dataset', '{data}', '--num-calibration-samples', String(samples), '--max-seq-length', String(seq), '--output', '{out}', '--overwrite', '--json'],
        recipe: SPARSEGPT_RECIPE, data: { documents: samples, tokens: seq },
        work: ({ linear }) => ({ flops: 2 * 2 * linear * samples * seq, tokens: samples * seq }),
      });
      const windows = o.quick ? 2 : 8;
      out.push({
        name: `scenario.eval.${size}.seq${seq}`, size, kind: 'eval', command: 'eval',
        args: ['--model', '{model}', '--dataset', '{data}', '--max-seq-length', String(seq), '--max-windows', String(windows), '--json'],
        data: { documents: windows, tokens: seq },
        work: ({ linear, lmHead }) => ({ flops: 2 * (linear + lmHead) * windows * seq, tokens: windows * seq }),
      });
    }
  }
  return out;
}

const running = new Set<ChildProcess>();

/** Kills the scenario processes still running (the runner calls it when it is interrupted). */
export function killScenarioProcesses(): void {
  for (const c of running) c.kill('SIGKILL');
}

function runChild(script: string, args: string[], timeoutSeconds: number): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.length > 1 << 20) stderr = stderr.slice(-(1 << 19));
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutSeconds * 1000);
    child.on('error', reject);
    child.on('close', (code) => {
      running.delete(child);
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr, timedOut });
    });
  });
}

/** The last JSON object a command printed (`--json`), if any. */
export function lastJsonObject(output: string): Record<string, unknown> | undefined {
  // A command's JSON summary is small and comes last; progress output before it can be long.
  const text = output.slice(-65536);
  for (let end = text.lastIndexOf('}'); end >= 0; end = text.lastIndexOf('}', end - 1)) {
    for (let start = text.lastIndexOf('{', end); start >= 0; start = text.lastIndexOf('{', start - 1)) {
      try {
        const v = JSON.parse(text.slice(start, end + 1)) as unknown;
        if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
      } catch {
        // keep widening
      }
    }
  }
  return undefined;
}

function meaningfulLines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('Warning: maxDynamic'));
}

function lastLines(text: string, n: number): string {
  return meaningfulLines(text).slice(-n).join(' | ');
}

/** Runs the planned scenarios; returns entries and the skipped ones with reasons. */
export async function runScenarios(o: ScenarioPlanOptions): Promise<{ entries: BenchEntry[]; skipped: SkippedScenario[] }> {
  const script = fileURLToPath(new URL('./scenario.js', import.meta.url));
  const plan = planScenarios(o).filter((s) => !o.only || o.only.test(s.name));
  const entries: BenchEntry[] = [];
  const skipped: SkippedScenario[] = [];
  mkdirSync(o.workDir, { recursive: true });
  try {
    await runPlan(o, plan, script, entries, skipped);
  } finally {
    rmSync(o.workDir, { recursive: true, force: true });
  }
  return { entries, skipped };
}

async function runPlan(o: ScenarioPlanOptions, plan: Scenario[], script: string, entries: BenchEntry[], skipped: SkippedScenario[]): Promise<void> {
  const unavailable = new Map<string, string>();
  for (const s of plan) {
    if (!commandAvailable(s.command)) {
      skipped.push({ name: s.name, reason: `wgc ${s.command} is not in this build yet (src/cli/commands/${s.command}.ts missing)` });
      continue;
    }
    const left = o.deadline === undefined ? Infinity : (o.deadline - performance.now()) / 1000;
    if (left <= 0) {
      skipped.push({ name: s.name, reason: o.budgetReason ?? 'time budget spent' });
      continue;
    }
    const known = unavailable.get(`${s.kind}`);
    if (known) {
      skipped.push({ name: s.name, reason: known });
      continue;
    }
    const model = await ensureModel(o, s.size);
    const shape = SYNTHETIC_SIZES[s.size];
    const params = syntheticParameterCount(shape);
    const linear = syntheticLinearParameterCount(shape);
    const dir = join(o.workDir, s.name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const fill: Record<string, string> = { '{model}': model.dir, '{out}': join(dir, 'out'), '{recipe}': join(dir, 'recipe.yaml'), '{data}': join(dir, 'data.json') };
    if (s.recipe) writeFileSync(fill['{recipe}'], s.recipe);
    if (s.data) {
      // Pre-tokenized ids (no tokenizer or text corpus needed), each document exactly one window.
      const docs = Array.from({ length: s.data.documents }, (_, i) => Array.from(randomIds(s.data!.tokens, model.tokenizerVocab - 3, o.seed * 7919 + i), (x) => x + 3));
      writeFileSync(fill['{data}'], JSON.stringify(docs));
    }
    const args = s.args.map((a) => fill[a] ?? a);
    const results: ScenarioResult[] = [];
    let failure: string | undefined;
    let commandJson: Record<string, unknown> | undefined;
    for (let r = 0; r < o.reps && !failure; r++) {
      const resultFile = join(dir, `result-${r}.json`);
      o.log(`  ${s.name} (run ${r + 1}/${o.reps}): wgc ${s.command} ${args.join(' ')}`);
      const remaining = o.deadline === undefined ? Infinity : (o.deadline - performance.now()) / 1000;
      if (r > 0 && remaining <= 0) break; // keep the runs done so far
      const limit = Math.max(1, Math.min(o.timeoutSeconds, remaining));
      const child = await runChild(script, ['--result', resultFile, '--', s.command, ...args], limit);
      if (child.timedOut) {
        if (results.length) break; // a later repetition ran into the budget: keep the earlier ones
        failure = limit < o.timeoutSeconds ? `stopped at the time budget after ${limit.toFixed(0)} s` : `timed out after ${o.timeoutSeconds} s`;
        break;
      }
      if (!existsSync(resultFile)) {
        failure = `scenario process exited with code ${child.code}: ${lastLines(child.stderr, 3)}`;
        break;
      }
      const res = JSON.parse(readFileSync(resultFile, 'utf8')) as ScenarioResult;
      if (res.status === 'unavailable') {
        skipped.push({ name: s.name, reason: res.reason ?? 'unavailable' });
        break;
      }
      if (res.status !== 'ok') {
        const detail = lastLines(child.stderr, 2) || lastLines(child.stdout, 2);
        if (res.exitCode === 2) {
          // A usage error prints its reason first, then the usage text.
          const first = meaningfulLines(child.stderr)[0] ?? res.reason;
          // A usage error: the command exists but lacks what the scenario needs (an option, a recipe modifier).
          const reason = `wgc ${s.command} does not accept this scenario yet: ${first}`;
          unavailable.set(s.kind, reason);
          skipped.push({ name: s.name, reason });
        } else {
          failure = `${res.reason ?? 'failed'}: ${detail}`;
        }
        break;
      }
      results.push(res);
      commandJson = lastJsonObject(child.stdout);
    }
    rmSync(dir, { recursive: true, force: true });
    if (failure) {
      skipped.push({ name: s.name, reason: `FAILED: ${failure}` });
      o.log(`  ${s.name}: FAILED: ${failure}`);
      continue;
    }
    if (!results.length) continue;
    const secs = results.map((r) => r.wallSeconds);
    const { median, spread } = summarize(secs);
    const work = s.work({ params, linear, lmHead: shape.vocabSize * shape.hiddenSize, bytes: model.bytes });
    const extra: Record<string, number | string> = {
      size: s.size, parameters: params, linearParameters: linear, modelBytes: model.bytes, dtype: model.dtype, runs: results.length,
      peakRssBytes: Math.max(...results.map((r) => r.maxRssBytes)),
      peakGpuBytes: Math.max(...results.map((r) => r.peakGpuBytes ?? 0)),
    };
    if (work.bytes !== undefined) extra.bytes = work.bytes;
    if (work.flops !== undefined) extra.flops = work.flops;
    if (work.tokens !== undefined) extra.tokensPerSecond = work.tokens / median;
    extra.parametersPerSecond = params / median;
    // What the command itself reports (its own timing excludes process start and model loading).
    for (const key of ['seconds', 'oneshotSeconds', 'tokensPerSecond', 'perplexity', 'tensorsQuantized', 'modulesQuantized', 'bitsPerWeight']) {
      const v = commandJson?.[key];
      if (typeof v === 'number' && Number.isFinite(v)) extra[`command.${key}`] = v;
    }
    // Calibrated oneshot: the sparsity the save step measured on the pruned weights.
    const sparsity = (commandJson?.sparsity as { global?: unknown } | null | undefined)?.global;
    if (typeof sparsity === 'number' && Number.isFinite(sparsity)) extra['command.sparsity'] = sparsity;
    entries.push({
      name: s.name, unit: 's', value: median, spread, samples: secs, timer: 'wall',
      ceiling: work.bytes !== undefined ? 'copy' : 'matmul', extra,
    });
  }
}

interface CachedModel {
  dir: string;
  bytes: number;
  dtype: string;
  tokenizerVocab: number;
}

/** The synthetic model of `size`, generated into the cache on first use. */
async function ensureModel(o: ScenarioPlanOptions, size: SyntheticSize): Promise<CachedModel> {
  const dtype = 'BF16';
  const dir = join(o.modelsDir, `llama-${size}-${dtype}-seed${o.seed}-v1`);
  const meta = join(o.modelsDir, `llama-${size}-${dtype}-seed${o.seed}-v1.json`);
  if (existsSync(dir) && existsSync(meta)) return JSON.parse(readFileSync(meta, 'utf8')) as CachedModel;
  o.log(`  generating synthetic ${size} model (${(syntheticParameterCount(SYNTHETIC_SIZES[size]) / 1e6).toFixed(0)} M parameters, ${dtype}) in ${dir}`);
  mkdirSync(o.modelsDir, { recursive: true });
  const m = await writeSyntheticModel(dir, { size, seed: o.seed, dtype, overwrite: true });
  o.log(`  generated in ${m.seconds.toFixed(1)} s (${(m.bytes / 1e9).toFixed(2)} GB)`);
  const cached: CachedModel = { dir, bytes: m.bytes, dtype, tokenizerVocab: m.tokenizerVocab };
  writeFileSync(meta, JSON.stringify(cached, null, 2) + '\n');
  return cached;
}

/** Default model cache: `$WGC_BENCH_MODELS`, else the system temp folder. */
export function defaultModelsDir(): string {
  return process.env.WGC_BENCH_MODELS ?? join(tmpdir(), 'wgc-bench-models');
}
