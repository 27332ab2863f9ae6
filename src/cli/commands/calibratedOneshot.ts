/**
 * The calibrated path of `wgc oneshot` (a helper of ./oneshot.ts, not a
 * command): the whole model is opened for execution, calibration samples are
 * drawn from a dataset file, the core `oneshot()` runs the recipe through a
 * calibration pipeline, and `saveQuantizedModel` writes the checkpoint (the
 * output appears only once complete). Per-layer progress goes to stderr
 * through the loggers; the returned summary is what the command prints.
 */
import { readdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import type { Model, SaveContext } from '../../core/model.js';
import { drawCalibrationSamples } from '../../data/calibration.js';
import { acquireHardware } from '../../gpu/node/acquire.js';
import { GpuError, type Hardware } from '../../gpu/hardware.js';
import { CheckpointError } from '../../io/errors.js';
import { DatasetError } from '../../data/dataset.js';
import { TokenizerError } from '../../data/tokenizer.js';
import { ModelConfigError } from '../../models/llama/config.js';
import { QuantizationConfigError } from '../../quantization/args.js';
import { QuantizationError } from '../../quantization/quantizeWeight.js';
import { NotImplementedError, RecipeError } from '../../recipe/errors.js';
import { openModelDir } from '../../io/node/index.js';
import { ConsoleLogger } from '../../loggers/console.js';
import { LoggerManager } from '../../loggers/manager.js';
import type { LayerRecord, LogLevel, LogRecord, Logger } from '../../loggers/types.js';
import { openCausalLM, type ExecutionCaveat } from '../../models/load.js';
import { loadCalibrationData } from '../../models/node.js';
import type { CausalLM } from '../../models/causalLM.js';
import { QuantizationModifier } from '../../modifiers/quantization/base.js';
import { oneshot } from '../../oneshot.js';
import { selectPipeline } from '../../pipelines/registry.js';
import { LifecycleError } from '../../core/lifecycle.js';
import type { Recipe } from '../../recipe/recipe.js';
import { saveQuantizedModel, type SavedModel, type SparsityReport } from '../../quantization/save.js';

/** What the calibrated path runs. */
export interface CalibratedOneshotOptions {
  readonly model: string;
  readonly output: string;
  /** The resolved recipe (from `--recipe`, or the preset `--scheme` stands for). */
  readonly recipe: Recipe;
  /** Shown in the summary: the recipe file or `--scheme NAME`. */
  readonly recipeLabel: string;
  /** Calibration text/JSONL/ids; absent for recipes whose pipeline runs no forwards. */
  readonly dataset?: string;
  readonly docSeparator?: string;
  readonly textField?: string;
  /** `windows` (default): full-length windows of the concatenated documents; `documents`: one truncated document per sample. */
  readonly calibrationMode?: 'windows' | 'documents';
  readonly numCalibrationSamples: number;
  /** Tokens per sample; default min(max_position_embeddings, 2048). */
  readonly maxSeqLength?: number;
  readonly pipeline?: string;
  readonly sequentialTargets?: readonly string[];
  readonly seed: number;
  readonly overwrite: boolean;
  readonly adapter?: string;
  /** Console log level on stderr (default info: one line per compressed module and per subgraph). */
  readonly logLevel?: LogLevel;
  readonly signal?: AbortSignal;
}

/** One compressed module as the modifiers reported it. */
export interface ModuleReport {
  readonly modifier: string;
  readonly module: string;
  /**
   * The modifier's error measure: GPTQ / SparseGPT / Wanda the weighted
   * reconstruction loss, QuantizationModifier ‖W − Q(W)‖ / ‖W‖, AWQ its
   * best grid-search loss.
   */
  readonly error?: number;
  readonly seconds?: number;
  /** Fraction of zeros after pruning (pruning modifiers). */
  readonly sparsity?: number;
  /** Calibration samples the module's statistics saw. */
  readonly samples?: number;
  /** 1 when GPTQ fell back to round-to-nearest (the Hessian could not be factorized). */
  readonly rtnFallback?: number;
}

/** The `wgc oneshot --dataset` summary (`--json` prints it as is). */
export interface CalibratedSummary {
  readonly model: string;
  readonly output: string;
  readonly recipe: string;
  readonly modifiers: readonly string[];
  readonly pipeline: string;
  /** The calibration set (null when the pipeline ran no forwards). */
  readonly calibration: {
    readonly dataset: string;
    readonly documents: number;
    readonly mode: 'windows' | 'documents';
    readonly requestedSamples: number;
    readonly samples: number;
    readonly maxSeqLength: number;
    readonly tokens: number;
    readonly seed: number;
  } | null;
  /** Wall seconds of the whole command (open, tokenize, calibrate, compress, save). */
  readonly seconds: number;
  /** Seconds of the core oneshot: calibration forwards, compression and save. */
  readonly oneshotSeconds: number;
  readonly loadSeconds: number;
  /** Calibration tokens per second of the core oneshot (0 without calibration). */
  readonly tokensPerSecond: number;
  readonly modules: readonly ModuleReport[];
  /** Modules whose weight was quantized (any quantizing modifier). */
  readonly modulesQuantized: number;
  /** Sparsity of the pruned Linear weights as saved (null when nothing was pruned). */
  readonly sparsity: SparsityReport | null;
  /** Largest GPU bytes the engine's buffer pool held during the run. */
  readonly peakGpuBytes: number;
  /** The model's parameters as the forward holds them (f32). */
  readonly modelBytes: number;
  readonly files: readonly string[];
  readonly warnings: readonly string[];
}

/** An error in what the user gave (exit code 2), as opposed to a failure of the run. */
export class OneshotInputError extends Error {
  override name = 'OneshotInputError';
}

/** Collects what the modifiers and pipelines report, for the summary. */
class SummaryCollector implements Logger {
  readonly layers: LayerRecord[] = [];
  readonly warnings: string[] = [];
  /** Set once a pipeline reported progress or a module result: failures after it are run failures. */
  started = false;

  write(r: LogRecord): void {
    if (r.type === 'layer') this.layers.push(r);
    else if (r.type === 'message' && r.level === 'warning') this.warnings.push(r.message);
    if (r.type === 'layer' || r.type === 'progress') this.started = true;
  }
}

/** Refuses an output that exists and is not an empty folder (without `overwrite`) before any work, as the writer would after it. */
export async function checkOutputTarget(output: string, overwrite: boolean): Promise<void> {
  const path = resolve(output);
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    return;
  }
  if (!isDir) throw new CheckpointError(path, 'output path exists and is not a folder');
  if (!overwrite && (await readdir(path)).length > 0) throw new CheckpointError(path, 'output folder exists and is not empty; pass --overwrite to replace it');
}

/** Module reports from the loggers' layer records plus the QuantizationModifier's own per-module errors. */
function moduleReports(layers: readonly LayerRecord[], recipe: Recipe): ModuleReport[] {
  const out: ModuleReport[] = layers.map((r) => {
    const e = r.extra ?? {};
    return {
      modifier: r.modifier,
      module: r.layer,
      ...(r.error !== undefined && { error: r.error }),
      ...(r.seconds !== undefined && { seconds: r.seconds }),
      ...(e.sparsity !== undefined && { sparsity: e.sparsity }),
      ...(e.samples !== undefined && { samples: e.samples }),
      ...(e.rtnFallback !== undefined && { rtnFallback: e.rtnFallback }),
    };
  });
  for (const m of recipe.modifiers) {
    if (!(m instanceof QuantizationModifier)) continue;
    for (const q of m.quantizedModules) out.push({ modifier: m.type, module: q.module.name, error: q.relativeError });
  }
  return out;
}

function countQuantized(modules: readonly ModuleReport[]): number {
  return new Set(modules.filter((r) => r.modifier === 'GPTQModifier' || r.modifier === 'QuantizationModifier').map((r) => r.module)).size;
}

/**
 * Runs the calibrated oneshot and returns its summary. Input problems
 * (missing files, bad dataset, a recipe that does not fit the model) throw
 * the error classes `wgc` maps to exit code 2; see {@link isInputError}.
 */
export async function runCalibratedOneshot(o: CalibratedOneshotOptions): Promise<CalibratedSummary> {
  const t0 = performance.now();
  await checkOutputTarget(o.output, o.overwrite);
  const folder = await openModelDir(o.model);
  let model: CausalLM | undefined;
  let hw: Hardware | undefined;
  const collector = new SummaryCollector();
  try {
    if (folder.config.quantizationConfig) {
      throw new OneshotInputError(`${o.model}: the model is already quantized (config.json has quantization_config); start from the dense checkpoint`);
    }
    const trained = folder.config.maxPositionEmbeddings;
    const maxSeqLength = o.maxSeqLength ?? Math.min(trained || 2048, 2048);
    const early: string[] = [];
    if (o.maxSeqLength !== undefined && trained && o.maxSeqLength > trained) {
      early.push(`--max-seq-length ${o.maxSeqLength} is longer than the model's max_position_embeddings (${trained})`);
    }
    const mode = o.calibrationMode ?? 'windows';
    let selection;
    try {
      selection = selectPipeline(o.recipe.modifiers, o.pipeline);
    } catch (e) {
      throw new OneshotInputError(`${o.recipeLabel}: ${(e as Error).message}`, { cause: e });
    }
    let calibration: CalibratedSummary['calibration'] = null;
    let samples: Int32Array[] | undefined;
    if (selection.pipeline.needsData) {
      if (o.dataset === undefined) throw new OneshotInputError(`${o.recipeLabel} needs calibration data (the ${selection.pipeline.name} pipeline runs the model); pass --dataset FILE`);
      const data = await loadCalibrationData(o.model, o.dataset, { docSeparator: o.docSeparator, textField: o.textField, mode });
      if (!('documents' in data)) throw new Error('loadCalibrationData returned no documents');
      samples = drawCalibrationSamples(data.documents, { numSamples: o.numCalibrationSamples, maxSeqLength, seed: o.seed, mode });
      if (samples.length < o.numCalibrationSamples) {
        early.push(`${o.dataset} gives ${samples.length} calibration samples of ${maxSeqLength} tokens, fewer than the ${o.numCalibrationSamples} requested; using ${samples.length}`);
      }
      calibration = {
        dataset: o.dataset, documents: data.documents.length, mode, requestedSamples: o.numCalibrationSamples,
        samples: samples.length, maxSeqLength, tokens: samples.reduce((a, x) => a + x.length, 0), seed: o.seed,
      };
    } else if (o.dataset !== undefined) {
      if (!existsSync(o.dataset)) throw new DatasetError(`${o.dataset}: dataset file not found`);
      early.push(
        `${o.recipeLabel} needs no calibration data and the ${selection.pipeline.name} pipeline runs no forwards, so --dataset ${o.dataset} is not used (without --dataset the model is quantized tensor by tensor, never whole on the GPU)`,
      );
    }

    hw = await acquireHardware({ adapter: o.adapter });
    const caveats: ExecutionCaveat[] = [];
    model = await openCausalLM(hw, folder, caveats);
    const loggers = new LoggerManager([new ConsoleLogger({ level: o.logLevel ?? 'info' }), collector]);
    for (const w of early) loggers.warning(w);
    for (const c of caveats) loggers.warning(c.message);
    const loadSeconds = (performance.now() - t0) / 1000;

    let saved: SavedModel | undefined;
    const save = async (m: Model, dir: string, ctx: SaveContext): Promise<void> => {
      saved = await saveQuantizedModel(m, dir, ctx, { overwrite: o.overwrite, carryFrom: folder.folder });
    };
    hw.pool.resetPeak();
    let result;
    try {
      result = await oneshot({
        model,
        recipe: o.recipe,
        hardware: hw,
        dataset: samples ? { samples } : undefined,
        numCalibrationSamples: samples?.length,
        maxSeqLength,
        pipeline: o.pipeline,
        sequentialTargets: o.sequentialTargets,
        seed: o.seed,
        outputDir: o.output,
        save,
        loggers,
        signal: o.signal,
      });
    } catch (e) {
      // Before any calibration or compression step, a failure is the recipe not fitting this model (no module matches, an unsupported field…).
      if (!collector.started && e instanceof Error && !isInputError(e) && !KNOWN_ERRORS.some((c) => e instanceof c)) {
        throw new OneshotInputError(`${o.recipeLabel}: ${e.message}`, { cause: e });
      }
      throw e;
    }
    const peakGpuBytes = hw.pool.stats().peakBytes;
    const modules = moduleReports(collector.layers, result.recipe);
    const seconds = (performance.now() - t0) / 1000;
    return {
      model: o.model,
      output: o.output,
      recipe: o.recipeLabel,
      modifiers: result.recipe.modifiers.map((m) => m.type),
      pipeline: result.pipeline,
      calibration,
      seconds,
      oneshotSeconds: result.seconds,
      loadSeconds,
      tokensPerSecond: calibration && result.seconds > 0 ? calibration.tokens / result.seconds : 0,
      modules,
      modulesQuantized: countQuantized(modules),
      sparsity: saved?.sparsity ?? null,
      peakGpuBytes,
      modelBytes: model.parameterBytes,
      files: saved?.files ?? [],
      warnings: collector.warnings,
    };
  } finally {
    if (model) await model.dispose?.();
    else await folder.close();
    if (hw) await hw.destroy();
  }
}

/** Errors of bad input (files, model config, dataset, recipe), which `wgc oneshot` exits with 2 for. */
const INPUT_ERRORS = [
  OneshotInputError, QuantizationError, QuantizationConfigError, RecipeError, NotImplementedError,
  CheckpointError, ModelConfigError, DatasetError, TokenizerError, RangeError,
] as const;

/** Errors that say what they are about; never relabelled as a recipe problem. */
const KNOWN_ERRORS = [...INPUT_ERRORS, GpuError, LifecycleError] as const;

/** Whether `e` is bad input (exit code 2) rather than a failed run. */
export function isInputError(e: unknown): boolean {
  return INPUT_ERRORS.some((c) => e instanceof c);
}

function mib(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;
}

function num(v: number): string {
  return v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e6) ? v.toExponential(3) : String(Number(v.toPrecision(4)));
}

/** The summary as `wgc oneshot --dataset` prints it without `--json`. */
export function formatCalibratedSummary(s: CalibratedSummary, worst = 5, listed = 40): string {
  const c = s.calibration;
  const lines = [
    `recipe      ${s.recipe}: ${s.modifiers.join(' → ')} (pipeline ${s.pipeline})`,
    c
      ? `calibration ${c.samples} samples × ${c.mode === 'windows' ? c.maxSeqLength : `≤ ${c.maxSeqLength}`} tokens = ${c.tokens} tokens from ${c.dataset} (${c.documents} documents, seed ${c.seed})`
      : 'calibration none (the pipeline ran no forwards)',
    `time        ${s.seconds.toFixed(2)} s (${s.loadSeconds.toFixed(2)} s opening and tokenizing, ${s.oneshotSeconds.toFixed(2)} s calibrating, compressing and saving; ${s.tokensPerSecond.toFixed(0)} calibration tokens/s)`,
    `gpu         peak ${mib(s.peakGpuBytes)} held by the engine; model weights ${mib(s.modelBytes)} (f32)`,
  ];
  if (s.modulesQuantized) lines.push(`quantized   ${s.modulesQuantized} modules`);
  if (s.sparsity) lines.push(`sparsity    ${(s.sparsity.global * 100).toFixed(2)}% of the weights of ${s.sparsity.modules.length} pruned modules`);
  lines.push(`output      ${s.output}`);
  const byModifier = new Map<string, ModuleReport[]>();
  for (const r of s.modules) if (r.error !== undefined) byModifier.set(r.modifier, [...(byModifier.get(r.modifier) ?? []), r]);
  for (const [modifier, reports] of byModifier) {
    const ranked = [...reports].sort((a, b) => b.error! - a.error!).slice(0, worst);
    const what = modifier === 'QuantizationModifier' ? '‖W − Q(W)‖ / ‖W‖' : 'loss';
    lines.push(`worst modules by ${modifier} ${what}:`);
    const w = Math.max(...ranked.map((r) => r.module.length));
    for (const r of ranked) lines.push(`  ${r.module.padEnd(w)}  ${num(r.error!)}${r.rtnFallback ? '  (fell back to round-to-nearest)' : ''}`);
  }
  if (s.sparsity && s.sparsity.modules.length) {
    lines.push('sparsity per module:');
    const shown = s.sparsity.modules.slice(0, listed);
    const w = Math.max(...shown.map((m) => m.name.length));
    for (const m of shown) lines.push(`  ${m.name.padEnd(w)}  ${(m.sparsity * 100).toFixed(2)}%`);
    if (s.sparsity.modules.length > listed) lines.push(`  … ${s.sparsity.modules.length - listed} more (see --json)`);
  }
  if (s.warnings.length) lines.push(`warnings    ${s.warnings.length} (see above)`);
  return lines.join('\n');
}
