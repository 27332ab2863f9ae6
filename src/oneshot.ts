/**
 * `oneshot` (llm-compressor `entrypoints/oneshot.py`, reference §4): apply a
 * recipe to a model in one pass. It resolves the recipe, picks the
 * calibration pipeline, creates a session, initializes the modifiers, runs
 * the pipeline, finalizes, and hands the model to a save function (the
 * checkpoint writer lives in src/io; `oneshot` writes no files itself).
 */
import type { Model, ModelLoader, SaveContext } from './core/model.js';
import { getModelLoader } from './core/model.js';
import { createSession } from './core/session.js';
import type { Hardware } from './gpu/hardware.js';
import { LoggerManager } from './loggers/manager.js';
import { loadRecipe } from './recipe/load.js';
import { targetProblem } from './recipe/match.js';
import type { Recipe, RecipeInput } from './recipe/recipe.js';
import { selectPipeline } from './pipelines/registry.js';
import { QuantizationMixin } from './modifiers/quantization/mixin.js';

/** Writes `model` to `outputDir` (a compressed-tensors checkpoint plus `recipe.yaml` from `context.recipeYaml`). */
export type SaveFunction = (model: Model, outputDir: string, context: SaveContext) => Promise<void>;

export interface OneshotOptions {
  /** A loaded model, or a path for `loadModel` (or the registered model loader). */
  model: Model | string;
  /** YAML/JSON text, a file path, a parsed object, a Recipe, or Modifier instances. */
  recipe: RecipeInput;
  /** The GPU to work on (`acquireHardware()` in Node, `acquireBrowserHardware()` in a page). */
  hardware: Hardware;
  /** Only stages whose key starts with this; the output then goes to `outputDir/<recipeStage>`. */
  recipeStage?: string;
  /** Stored on the recipe (inert, as in llm-compressor). */
  recipeArgs?: Readonly<Record<string, unknown>>;
  /** Calibration data (a path or loaded data) for pipelines that run the model. */
  dataset?: unknown;
  /** Where to save the result; nothing is saved when absent. */
  outputDir?: string;
  /** Calibration samples (default 512, llm-compressor's). */
  numCalibrationSamples?: number;
  /** Tokens per calibration sample (default: decided by the dataset code). */
  maxSeqLength?: number;
  /** `datafree`, `basic`, `sequential` or `layer_sequential`; inferred from the modifiers when absent. */
  pipeline?: string;
  /** Units calibrated one at a time (default: the model's decoder layer class). */
  sequentialTargets?: readonly string[] | string;
  /** Seed for calibration sampling (default 42). */
  seed?: number;
  /** Loads `model` when it is a path. */
  loadModel?: ModelLoader;
  /** Saves the result; defaults to `model.save`. */
  save?: SaveFunction;
  /** Progress and metrics; default a console logger at `info`. */
  loggers?: LoggerManager;
  /** Reads recipe files (browsers: required for recipe paths). */
  readRecipeFile?: (path: string) => Promise<string>;
  signal?: AbortSignal;
}

export interface OneshotResult {
  readonly model: Model;
  readonly recipe: Recipe;
  /** Name of the pipeline that ran. */
  readonly pipeline: string;
  /** Where the model was saved, if it was. */
  readonly outputDir?: string;
  readonly seconds: number;
}

function checkInt(name: string, v: number | undefined, min: number): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min)) throw new Error(`oneshot: ${name} must be an integer ≥ ${min}, got ${v}`);
}

function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') || dir.endsWith('\\') ? dir + name : `${dir}/${name}`;
}

/**
 * All of a recipe's modifiers share one calibration pass per layer here
 * (llm-compressor's default `independent` pipeline gives each its own), so a
 * static activation scale is observed before a smoothing modifier of the same
 * recipe rescales that layer's inputs. Says so when that combination occurs.
 */
function staleStaticScalesWarning(recipe: Recipe): string | undefined {
  const smoothing = [...new Set(recipe.modifiers.filter((m) => m.type === 'SmoothQuantModifier' || m.type === 'AWQModifier').map((m) => m.type))];
  if (!smoothing.length) return undefined;
  const staticInputs = recipe.modifiers.filter((m) => {
    if (!(m instanceof QuantizationMixin)) return false;
    try {
      return Object.values(m.resolvedConfig.configGroups).some((g) => g.inputActivations !== null && g.inputActivations.dynamic !== true);
    } catch {
      return false; // an invalid config is reported by the modifier's initialize
    }
  });
  if (!staticInputs.length) return undefined;
  return `oneshot: ${staticInputs.map((m) => m.type).join(', ')} calibrates static input scales in the same pass as ${smoothing.join(', ')}, so the scales are observed before smoothing; for scales of the smoothed inputs run the smoothing and the quantization as two oneshot calls (one per recipe stage, with recipeStage), or use a dynamic activation scheme`;
}

/**
 * Applies `options.recipe` to `options.model` and returns the model. Checks
 * everything that can be checked cheaply (recipe, pipeline, dataset, save
 * target) before touching the GPU. On failure, modifiers left initialized are
 * finalized, and a model this call loaded is disposed.
 */
export async function oneshot(options: OneshotOptions): Promise<OneshotResult> {
  const t0 = performance.now();
  if (!options.hardware) throw new Error('oneshot: `hardware` is required (acquire it with acquireHardware() or acquireBrowserHardware())');
  checkInt('numCalibrationSamples', options.numCalibrationSamples, 1);
  checkInt('maxSeqLength', options.maxSeqLength, 1);
  checkInt('seed', options.seed, 0);
  const loggers = options.loggers ?? LoggerManager.console();
  const sequentialTargets = typeof options.sequentialTargets === 'string' ? [options.sequentialTargets] : options.sequentialTargets;
  for (const target of sequentialTargets ?? []) {
    const problem = targetProblem(target);
    if (problem) throw new Error(`oneshot: sequentialTargets: ${problem}`);
  }

  const recipe = await loadRecipe(options.recipe, { stage: options.recipeStage, args: options.recipeArgs, readText: options.readRecipeFile });
  const selection = selectPipeline(recipe.modifiers, options.pipeline);
  if (selection.warning) loggers.warning(selection.warning);
  const stale = staleStaticScalesWarning(recipe);
  if (stale) loggers.warning(stale);
  if (selection.pipeline.needsData && options.dataset === undefined) {
    const needy = [...new Set(recipe.modifiers.filter((m) => m.requiresCalibrationData).map((m) => m.type))];
    throw new Error(`oneshot: the "${selection.pipeline.name}" pipeline needs calibration data${needy.length ? ` (for ${needy.join(', ')})` : ''}; pass \`dataset\``);
  }

  let model: Model;
  const loadedHere = typeof options.model === 'string';
  if (typeof options.model === 'string') {
    const load = options.loadModel ?? getModelLoader();
    if (!load) throw new Error(`oneshot: model ${JSON.stringify(options.model)} is a path, but no model loader is registered; pass a loaded Model or \`loadModel\``);
    model = await load(options.model, options.hardware);
  } else {
    model = options.model;
  }

  const outputDir = options.outputDir === undefined ? undefined : options.recipeStage ? joinPath(options.outputDir, options.recipeStage) : options.outputDir;
  const save: SaveFunction | undefined = options.save ?? (model.save ? (m, dir, ctx) => m.save!(dir, ctx) : undefined);
  try {
    if (outputDir !== undefined && !save) throw new Error('oneshot: `outputDir` is set but the model has no `save` and no `save` option was given');
    loggers.info(`oneshot: ${recipe.modifiers.length} modifier(s) [${recipe.modifiers.map((m) => m.type).join(', ')}], pipeline ${selection.pipeline.name}`);
    await createSession(async (session) => {
      try {
        await session.initialize({ recipe, model, hardware: options.hardware, loggers, data: { calib: options.dataset }, sequentialTargets });
        await selection.pipeline.run({
          session,
          model,
          hardware: options.hardware,
          modifiers: recipe.modifiers,
          dataset: options.dataset,
          options: { numCalibrationSamples: options.numCalibrationSamples ?? 512, maxSeqLength: options.maxSeqLength, sequentialTargets, seed: options.seed ?? 42 },
          loggers,
          signal: options.signal,
        });
        await session.finalize();
      } catch (e) {
        await session.reset();
        throw e;
      }
      if (outputDir !== undefined) {
        await save!(model, outputDir, { recipe, recipeYaml: recipe.yaml(), state: session.state, hardware: options.hardware });
        loggers.info(`oneshot: saved to ${outputDir}`);
      }
    });
  } catch (e) {
    if (loadedHere) await model.dispose?.();
    throw e;
  }
  return { model, recipe, pipeline: selection.pipeline.name, outputDir, seconds: (performance.now() - t0) / 1000 };
}
