/**
 * The page's data-free compression: the same core path as `wgc oneshot`
 * (src/quantization/dataFreeOneshot.ts) with browser sources and sinks. The
 * model comes from a FolderSource over the user's Files, the checkpoint goes
 * to a {@link BlobOutputFolder}; planning, GPU quantization, the
 * compressed-tensors writer and the summary are the core's own functions.
 */
import {
  type FolderSource, type Hardware, type ModelFolder, Recipe, openModelFolder,
} from '../../src/index.js';
import { dataFreeSpec, presetRecipe } from '../../src/quantization/dataFreeRecipe.js';
import { QuantizationError } from '../../src/quantization/quantizeWeight.js';
import { modelFreeQuantize, planModelFree, type ModelFreePlan, type ModelFreeProgress, type ModelFreeResult, type QuantizationSpec } from '../../src/quantization/modelFree.js';
import { summarize, type QuantizationSummary } from '../../src/quantization/summary.js';
import { checkLimits, type LimitReport, type PlannedWeight } from './limits.js';
import { BlobOutputFolder } from './outputFolder.js';

/** What to apply: pasted recipe text, or a preset with targets and ignore list (as `wgc oneshot --scheme`). */
export type PageRecipe =
  | { readonly recipeText: string }
  | { readonly scheme: string; readonly targets?: readonly string[]; readonly ignore?: readonly string[] };

/** The config groups and recipe.yaml text of a recipe or preset, resolved as `wgc oneshot` does. */
export function resolvePageRecipe(q: PageRecipe): { spec: QuantizationSpec; recipeYaml: string } {
  const recipe = 'recipeText' in q ? Recipe.fromText(q.recipeText, { source: 'recipe' }) : presetRecipe(q);
  return dataFreeSpec(recipe, 'which the page does not do yet — use the Node CLI');
}

/** Everything decided before the GPU starts: the open model, the plan and the limits check. */
export interface Preflight {
  readonly model: ModelFolder;
  readonly spec: QuantizationSpec;
  readonly recipeYaml: string;
  readonly plan: ModelFreePlan;
  readonly limits: LimitReport;
  readonly bytesBefore: number;
}

export interface PreflightEnvironment {
  readonly device: { readonly maxStorageBufferBindingSize: number; readonly maxBufferSize: number };
  readonly canSaveToFolder: boolean;
  readonly deviceMemoryGiB?: number;
}

function plannedWeights(plan: ModelFreePlan): PlannedWeight[] {
  return plan.quantize.map((p) => {
    const w = p.scheme.weights!;
    const [rows, cols] = p.shape;
    const per =
      w.strategy === 'group' || w.strategy === 'tensor_group' ? (w.groupSize ?? cols)
      : w.strategy === 'channel' ? cols
      : w.strategy === 'block' && w.blockStructure ? w.blockStructure[0] * w.blockStructure[1]
      : rows * cols;
    return { tensor: p.tensor, shape: p.shape, bytes: p.bytes, bits: w.numBits, elementsPerScale: per, zeroPoints: !w.symmetric };
  });
}

/**
 * Opens the model and plans the run. Throws (naming the file, tensor or
 * field) for a bad folder, recipe, or a weight the scheme cannot take; limit
 * problems are returned in `limits.problems` so the page can show them all.
 * The caller closes `model` when it does not go on to {@link compress}.
 */
export async function preflight(source: FolderSource, q: PageRecipe, env: PreflightEnvironment): Promise<Preflight> {
  const { spec, recipeYaml } = resolvePageRecipe(q);
  const model = await openModelFolder(source);
  try {
    if (model.config.raw.quantization_config) {
      throw new QuantizationError(`${source.name}: the model is already quantized (config.json has quantization_config); start from the dense checkpoint`);
    }
    const plan = planModelFree(model.weights, spec);
    if (plan.quantize.length === 0) throw new QuantizationError('no Linear weight of the model is targeted by the config groups (or all are ignored); nothing to quantize');
    const quantized = new Set(plan.quantize.map((p) => p.tensor));
    let denseBytes = 0;
    let bytesBefore = 0;
    for (const t of model.weights.tensors) {
      bytesBefore += t.byteLength;
      if (!quantized.has(t.name)) denseBytes += t.byteLength;
    }
    const limits = checkLimits({ weights: plannedWeights(plan), denseBytes, ...env });
    return { model, spec, recipeYaml, plan, limits, bytesBefore };
  } catch (e) {
    await model.close();
    throw e;
  }
}

export interface CompressOutcome {
  readonly output: BlobOutputFolder;
  readonly result: ModelFreeResult;
  readonly summary: QuantizationSummary;
}

/** Runs the planned quantization into an in-page folder named `outputName`; closes the model. */
export async function compress(
  hw: Hardware,
  pre: Preflight,
  outputName: string,
  options: { onProgress?: (p: ModelFreeProgress) => void; signal?: AbortSignal } = {},
): Promise<CompressOutcome> {
  if (pre.limits.problems.length) throw new QuantizationError(`refused before starting: ${pre.limits.problems.join('; ')}`);
  const t0 = performance.now();
  const output = new BlobOutputFolder(outputName);
  try {
    const result = await modelFreeQuantize(hw, output, {
      weights: pre.model.weights,
      config: pre.model.config.raw,
      carryFrom: pre.model.folder,
      spec: pre.spec,
      recipeYaml: pre.recipeYaml,
      onProgress: options.onProgress,
      signal: options.signal,
    });
    const summary = summarize(result, pre.model.folder.name, outputName, (performance.now() - t0) / 1000);
    return { output, result, summary };
  } finally {
    await pre.model.close();
  }
}
