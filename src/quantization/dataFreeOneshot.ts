/**
 * Data-free oneshot from a model folder on disk to a compressed-tensors
 * folder (Node): the recipe or preset is turned into config groups, the
 * model is quantized tensor by tensor (./modelFree.ts), and the output
 * appears at its path only once complete. `wgc oneshot` and `wgc demo` run this.
 */
import type { Hardware } from '../gpu/hardware.js';
import { openModelDir, writeOutputFolder } from '../io/node/index.js';
import { loadRecipe } from '../recipe/load.js';
import { dataFreeSpec, presetRecipe } from './dataFreeRecipe.js';
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
  const recipe = 'recipe' in q ? await loadRecipe(q.recipe) : presetRecipe(q);
  return dataFreeSpec(recipe, 'pass --dataset to run them');
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
