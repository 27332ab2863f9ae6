import { parseArgs } from 'node:util';
import { acquireHardware } from '../../gpu/node/acquire.js';
import { QuantizationConfigError } from '../../quantization/args.js';
import { dataFreeOneshot, type DataFreeRecipe } from '../../quantization/dataFreeOneshot.js';
import type { ModelFreeProgress } from '../../quantization/modelFree.js';
import { PRESET_NAMES } from '../../quantization/presets.js';
import { presetRecipe } from '../../quantization/dataFreeRecipe.js';
import { QuantizationModifier } from '../../modifiers/quantization/base.js';
import { QuantizationError } from '../../quantization/quantizeWeight.js';
import { formatSummary, type QuantizationSummary } from '../../quantization/summary.js';
import { RecipeError } from '../../recipe/errors.js';
import { CheckpointError } from '../../io/errors.js';
import { loadRecipe } from '../../recipe/load.js';
import type { Recipe } from '../../recipe/recipe.js';
import { registeredPipelines } from '../../pipelines/registry.js';
import { formatCalibratedSummary, isInputError, runCalibratedOneshot, type CalibratedSummary } from './calibratedOneshot.js';

export const summary = 'compress a model into a compressed-tensors checkpoint: data-free (RTN) or calibrated on a dataset (GPTQ, SparseGPT, AWQ, …)';

const DEFAULT_NUM_CALIBRATION_SAMPLES = 512;
const CALIBRATION_PIPELINES = ['sequential', 'layer_sequential', 'basic', 'datafree'];
const LOG_LEVELS = ['debug', 'info', 'warning', 'error'] as const;

const USAGE = `usage: wgc oneshot --model DIR (--recipe FILE | --scheme NAME [--targets T ...] [--ignore M ...]) --output DIR
                   [--dataset FILE [calibration options]] [--overwrite] [--json]

Applies a recipe to the Hugging Face model in DIR on the GPU and writes a compressed-tensors
checkpoint to --output (which appears only once complete; an existing non-empty folder is
refused unless --overwrite). lm_head stays dense unless a target names it.

Without --dataset the recipe must be data-free (one QuantizationModifier with a weight-only or
dynamic-activation scheme): the model is quantized tensor by tensor from its safetensors files,
never whole on the GPU. With --dataset the model runs on calibration samples drawn from FILE
through a calibration pipeline (default: sequential, one decoder layer at a time), so recipes
with GPTQModifier, SparseGPTModifier, WandaPruningModifier, AWQModifier, SmoothQuantModifier or
static activation schemes work; per-layer progress goes to stderr, the summary to stdout.

  --model DIR         source model folder (config.json, *.safetensors, tokenizer.json)
  --recipe FILE       a recipe (YAML/JSON, llm-compressor grammar)
  --scheme NAME       a preset: ${PRESET_NAMES.join(', ')}
  --targets T         modules the preset applies to (default Linear); repeat or comma-separate
  --ignore M          modules to leave dense (names or re:patterns); repeat or comma-separate
  --output DIR        where to write the checkpoint
  --overwrite         replace an existing non-empty --output (only once the new one is complete)
  --json              print the summary as JSON
  --adapter NAME      WebGPU adapter (as WGC_ADAPTER)

calibration (need --dataset):
  --dataset FILE      .txt (documents split on --doc-separator lines), .jsonl (--text-field, or
                      "input_ids" records) or .json (pre-tokenized: an array of token-id arrays)
  --doc-separator STR line that separates documents in a text file (e.g. '<|endoftext|>')
  --text-field F      JSONL field holding the text (default: text)
  --num-calibration-samples N   samples drawn (default ${DEFAULT_NUM_CALIBRATION_SAMPLES}, as llm-compressor); fewer when the
                      dataset has fewer, with a warning
  --max-seq-length N  tokens per sample (default: min(max_position_embeddings, 2048))
  --calibration-mode M  windows (default): the documents' tokens concatenated and cut into
                      full-length windows, N of them drawn with the seed; documents: N shuffled
                      documents, each truncated to --max-seq-length
  --pipeline P        ${CALIBRATION_PIPELINES.join(', ')} (default: sequential when a modifier needs
                      data, else datafree)
  --sequential-targets T  units calibrated one at a time (default: the decoder layer class)
  --seed N            seed of the sample draw (default 42)
  --log-level L       debug, info (default), warning or error, for the progress on stderr`;

function list(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
}

/** A progress reporter: a redrawn bar on a terminal, one line per tensor otherwise. */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr): { update: (p: ModelFreeProgress) => void; done: () => void } {
  const tty = stream.isTTY === true;
  const t0 = performance.now();
  let drawn = false;
  return {
    update(p) {
      if (!tty) {
        stream.write(`[${p.index}/${p.total}] ${p.tensor} [${p.shape.join(', ')}]\n`);
        return;
      }
      const width = 30;
      const filled = Math.round((p.index / p.total) * width);
      const secs = (performance.now() - t0) / 1000;
      const cols = stream.columns ?? 100;
      const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.index}/${p.total} ${secs.toFixed(1)}s ${p.tensor}`;
      stream.write(`\r${line.slice(0, cols - 1).padEnd(cols - 1)}`);
      drawn = true;
    },
    done() {
      if (drawn) stream.write('\n');
    },
  };
}

/** Runs a data-free oneshot with progress and prints the summary; returns the exit code. */
export async function runDataFree(opts: { model: string; output: string; quantization: DataFreeRecipe; overwrite: boolean; json: boolean; adapter?: string; signal?: AbortSignal }): Promise<number> {
  let result: QuantizationSummary;
  const progress = progressReporter();
  try {
    const hw = await acquireHardware({ adapter: opts.adapter });
    try {
      result = await dataFreeOneshot(hw, { model: opts.model, output: opts.output, quantization: opts.quantization, overwrite: opts.overwrite, onProgress: progress.update, signal: opts.signal });
    } finally {
      progress.done();
      await hw.destroy();
    }
  } catch (e) {
    if (e instanceof QuantizationError || e instanceof QuantizationConfigError || e instanceof RecipeError || e instanceof CheckpointError || e instanceof RangeError) {
      console.error(`wgc oneshot: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (opts.json) console.log(JSON.stringify(result, null, 2));
  else console.log(formatSummary(result));
  return 0;
}

class UsageError extends Error {}

function positiveInt(v: string | undefined, flag: string, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} must be an integer ≥ ${min}, got "${v}"`);
  return n;
}

/** The recipe `--recipe FILE` names, or the one-QuantizationModifier recipe `--scheme` stands for. */
async function resolveRecipe(q: DataFreeRecipe): Promise<Recipe> {
  return 'recipe' in q ? loadRecipe(q.recipe) : presetRecipe(q);
}

/** Modifier types of `recipe` that need calibration data. */
function dataNeeds(recipe: Recipe): string[] {
  return [...new Set(recipe.modifiers.filter((m) => m.requiresCalibrationData).map((m) => m.type))];
}

/** Class of the error a Ctrl-C turns into: the run stops at the next layer or tensor, nothing is written. */
class Interrupted extends Error {}

/**
 * Runs `body` with an AbortSignal that Ctrl-C (SIGINT) aborts, so a long
 * calibration stops between layers and the output folder never appears;
 * returns exit code 130 (the shell's code for SIGINT) when that happened.
 */
async function interruptible(body: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const controller = new AbortController();
  const onSigint = (): void => {
    console.error('\nwgc oneshot: interrupted; stopping at the next layer (nothing is written). Press Ctrl-C again to kill.');
    process.off('SIGINT', onSigint);
    controller.abort(new Interrupted('interrupted by Ctrl-C; nothing was written'));
  };
  process.on('SIGINT', onSigint);
  try {
    return await body(controller.signal);
  } catch (e) {
    if (e instanceof Interrupted || (controller.signal.aborted && e === controller.signal.reason)) {
      console.error(`wgc oneshot: ${(e as Error).message}`);
      return 130;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** `wgc oneshot` */
export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' },
        recipe: { type: 'string' },
        scheme: { type: 'string' },
        targets: { type: 'string', multiple: true },
        ignore: { type: 'string', multiple: true },
        output: { type: 'string' },
        overwrite: { type: 'boolean' },
        json: { type: 'boolean' },
        adapter: { type: 'string' },
        dataset: { type: 'string' },
        'doc-separator': { type: 'string' },
        'text-field': { type: 'string' },
        'num-calibration-samples': { type: 'string' },
        'max-seq-length': { type: 'string' },
        'calibration-mode': { type: 'string' },
        pipeline: { type: 'string' },
        'sequential-targets': { type: 'string', multiple: true },
        seed: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    console.error(`wgc oneshot: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const problems: string[] = [];
  if (!values.model) problems.push('--model is required');
  if (!values.output) problems.push('--output is required');
  if (!values.recipe === !values.scheme) problems.push('give exactly one of --recipe and --scheme');
  if (values.recipe && (values.targets || values.ignore)) problems.push('--targets and --ignore go with --scheme; a recipe carries its own');
  const calibrationFlags = ['doc-separator', 'text-field', 'num-calibration-samples', 'max-seq-length', 'calibration-mode', 'sequential-targets', 'seed'] as const;
  if (!values.dataset) {
    const given = calibrationFlags.filter((f) => values[f] !== undefined);
    if (given.length) problems.push(`${given.map((f) => `--${f}`).join(', ')} ${given.length > 1 ? 'are' : 'is'} for calibration and need${given.length > 1 ? '' : 's'} --dataset FILE`);
  }
  let numCalibrationSamples: number | undefined;
  let maxSeqLength: number | undefined;
  let seed: number | undefined;
  try {
    numCalibrationSamples = positiveInt(values['num-calibration-samples'], '--num-calibration-samples');
    maxSeqLength = positiveInt(values['max-seq-length'], '--max-seq-length', 2);
    seed = positiveInt(values.seed, '--seed', 0);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    problems.push(e.message);
  }
  const mode = values['calibration-mode'];
  if (mode !== undefined && mode !== 'windows' && mode !== 'documents') problems.push(`--calibration-mode must be windows or documents, got "${mode}"`);
  const pipeline = values.pipeline;
  if (pipeline !== undefined && !registeredPipelines().some((p) => p.toLowerCase().replace(/-/g, '_') === pipeline.trim().toLowerCase().replace(/-/g, '_'))) {
    problems.push(`--pipeline "${pipeline}" is not one of ${registeredPipelines().join(', ')}`);
  }
  const logLevel = values['log-level'];
  if (logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(logLevel)) problems.push(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  if (problems.length) {
    console.error(`wgc oneshot: ${problems.join('; ')}\n\n${USAGE}`);
    return 2;
  }
  const quantization: DataFreeRecipe = values.recipe
    ? { recipe: values.recipe }
    : { scheme: values.scheme!, targets: list(values.targets), ignore: list(values.ignore) };
  const recipeLabel = values.recipe ? values.recipe : `--scheme ${values.scheme}`;

  let recipe: Recipe;
  try {
    recipe = await resolveRecipe(quantization);
  } catch (e) {
    if (e instanceof RecipeError || e instanceof RangeError || e instanceof QuantizationConfigError) {
      console.error(`wgc oneshot: ${values.recipe ? `${values.recipe}: ` : ''}${e.message}`);
      return 2;
    }
    throw e;
  }
  let needs: string[];
  try {
    needs = dataNeeds(recipe);
  } catch (e) {
    // Resolving a modifier's quantization config can fail on a bad recipe.
    console.error(`wgc oneshot: ${recipeLabel}: ${(e as Error).message}`);
    return 2;
  }
  if (!values.dataset) {
    if (needs.length) {
      console.error(`wgc oneshot: ${recipeLabel} needs calibration data (${needs.join(', ')}); pass --dataset FILE (text, JSONL or pre-tokenized ids)`);
      return 2;
    }
    if (pipeline !== undefined && pipeline.trim().toLowerCase() !== 'datafree') {
      console.error(`wgc oneshot: --pipeline ${pipeline} runs the model on calibration data; pass --dataset FILE`);
      return 2;
    }
    // One QuantizationModifier streams tensor by tensor; other data-free recipes
    // (magnitude pruning, …) run on the loaded model through the datafree pipeline.
    if (recipe.modifiers.length === 1 && recipe.modifiers[0] instanceof QuantizationModifier) {
      return interruptible((signal) => runDataFree({ model: values.model!, output: values.output!, quantization, overwrite: values.overwrite ?? false, json: values.json ?? false, adapter: values.adapter, signal }));
    }
  }
  const dataset = values.dataset;
  return interruptible(async (signal) => {
    let result: CalibratedSummary;
    try {
      result = await runCalibratedOneshot({
        signal,
        model: values.model!,
        output: values.output!,
        recipe,
        recipeLabel,
        dataset,
        docSeparator: values['doc-separator'],
        textField: values['text-field'],
        calibrationMode: mode as 'windows' | 'documents' | undefined,
        numCalibrationSamples: numCalibrationSamples ?? DEFAULT_NUM_CALIBRATION_SAMPLES,
        maxSeqLength,
        pipeline,
        sequentialTargets: values['sequential-targets'] ? list(values['sequential-targets']) : undefined,
        seed: seed ?? 42,
        overwrite: values.overwrite ?? false,
        adapter: values.adapter,
        logLevel: logLevel as (typeof LOG_LEVELS)[number] | undefined,
      });
    } catch (e) {
      if (isInputError(e)) {
        console.error(`wgc oneshot: ${(e as Error).message}`);
        return 2;
      }
      throw e;
    }
    if (values.json) console.log(JSON.stringify(result, null, 2));
    else console.log(formatCalibratedSummary(result));
    return 0;
  });
}
