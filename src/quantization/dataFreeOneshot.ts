/**
 * Data-free oneshot from a model folder on disk to a compressed-tensors
 * folder (Node): the recipe or preset is turned into config groups, the
 * model is quantized tensor by tensor (./modelFree.ts), and the output
 * appears at its path only once complete. `wgc oneshot` and `wgc demo` run this.
 */
import type { Hardware } from '../gpu/hardware.js';
import { openModelDir, writeOutputFolder } from '../io/node/index.js';
import { loadRecipe } from '../recipe/load.js';
import { Recipe } from '../recipe/recipe.js';
import { QuantizationModifier } from '../modifiers/quantization/base.js';
import { toKernelConfig } from '../modifiers/quantization/convert.js';
import { presetScheme } from './presets.js';
import { QuantizationError } from './quantizeWeight.js';
import { modelFreeQuantize, type ModelFreeProgress, type QuantizationSpec } from './modelFree.js';
import { summarize, type QuantizationSummary } from './summary.js';
import type { ScaleDivision } from './reference.js';

/** What to apply: a recipe (file path or text) or a preset scheme with targets and ignore list. */
export type DataFreeRecipe =
  | { readonly recipe: string }
  | { readonly scheme: string; readonly targets?: readonly string[]; readonly ignore?: readonly string[] };

export interface DataFreeOneshotOptions {
  readonly model: string;
  readonly output: string;
  readonly quantization: DataFreeRecipe;
  readonly overwrite?: boolean;
  readonly scaleDivision?: ScaleDivision;
  readonly onProgress?: (p: ModelFreeProgress) => void;
  readonly signal?: AbortSignal;
}

/**
 * The config groups, ignore list and recipe.yaml text of a recipe or preset.
 * Only QuantizationModifier recipes are data-free; anything else is an error
 * that says so.
 */
export async function resolveDataFreeRecipe(q: DataFreeRecipe): Promise<{ spec: QuantizationSpec; recipeYaml: string }> {
  let recipe: Recipe;
  if ('recipe' in q) {
    recipe = await loadRecipe(q.recipe);
  } else {
    const targets = q.targets && q.targets.length ? [...q.targets] : ['Linear'];
    presetScheme(q.scheme, targets); // unknown names fail here, listing the presets
    recipe = Recipe.create([new QuantizationModifier({ scheme: q.scheme.toUpperCase(), targets, ignore: [...(q.ignore ?? [])] })]);
  }
  const mods = recipe.modifiers;
  const other = mods.filter((m) => !(m instanceof QuantizationModifier));
  if (other.length) {
    throw new QuantizationError(
      `the recipe contains ${[...new Set(other.map((m) => m.type))].join(', ')}; data-free oneshot runs QuantizationModifier recipes only (the others need the model executed on calibration data)`,
    );
  }
  if (mods.length !== 1) throw new QuantizationError(`data-free oneshot takes a recipe with one QuantizationModifier, got ${mods.length}`);
  const m = mods[0] as QuantizationModifier;
  if (!m.hasConfig()) throw new QuantizationError(`${m.recipePath}: QuantizationModifier requires that quantization fields be specified`);
  if (m.resolvedConfig.kvCacheScheme) throw new QuantizationError(`${m.recipePath}: kv_cache_scheme needs calibration data (key/value scales are observed from activations); data-free oneshot cannot apply it`);
  const cfg = toKernelConfig(m.resolvedConfig, m.recipePath.toString());
  return { spec: { groups: cfg.groups, ignore: cfg.ignore }, recipeYaml: recipe.yaml() };
}

/** Quantizes `options.model` into `options.output` and returns the summary. */
export async function dataFreeOneshot(hw: Hardware, options: DataFreeOneshotOptions): Promise<QuantizationSummary> {
  const t0 = performance.now();
  const { spec, recipeYaml } = await resolveDataFreeRecipe(options.quantization);
  const folder = await openModelDir(options.model);
  try {
    if (folder.config.raw.quantization_config) {
      throw new QuantizationError(`${options.model}: the model is already quantized (config.json has quantization_config); start from the dense checkpoint`);
    }
    const result = await writeOutputFolder(options.output, { overwrite: options.overwrite }, (out) =>
      modelFreeQuantize(hw, out, {
        weights: folder.weights,
        config: folder.config.raw,
        carryFrom: folder.folder,
        spec,
        recipeYaml,
        scaleDivision: options.scaleDivision,
        onProgress: options.onProgress,
        signal: options.signal,
      }),
    );
    return summarize(result, options.model, options.output, (performance.now() - t0) / 1000);
  } finally {
    await folder.close();
  }
}
