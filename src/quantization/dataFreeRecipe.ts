/**
 * Turns a recipe (or a preset with targets and ignore list) into what the
 * data-free path quantizes: config groups in kernel form, the ignore list and
 * the recipe.yaml text. Browser-safe, so `wgc oneshot` (Node) and the web page
 * resolve recipes with the same code and produce byte-identical recipe.yaml.
 */
import { Recipe } from '../recipe/recipe.js';
import { QuantizationModifier } from '../modifiers/quantization/base.js';
import { toKernelConfig } from '../modifiers/quantization/convert.js';
import { presetScheme } from './presets.js';
import { QuantizationError } from './quantizeWeight.js';
import type { QuantizationSpec } from './modelFree.js';

/** A preset scheme applied to `targets` (default `Linear`) minus `ignore`. */
export interface PresetChoice {
  readonly scheme: string;
  readonly targets?: readonly string[];
  readonly ignore?: readonly string[];
}

/** The one-modifier recipe `--scheme NAME --targets … --ignore …` stands for. */
export function presetRecipe(choice: PresetChoice): Recipe {
  const targets = choice.targets && choice.targets.length ? [...choice.targets] : ['Linear'];
  presetScheme(choice.scheme, targets); // unknown names fail here, listing the presets
  return Recipe.create([new QuantizationModifier({ scheme: choice.scheme.toUpperCase(), targets, ignore: [...(choice.ignore ?? [])] })]);
}

/**
 * The data-free plan of `recipe`. Only a single QuantizationModifier is
 * data-free; anything else is an error that says so, ending with
 * `otherModifiersHint` (where the caller can run such recipes).
 */
export function dataFreeSpec(recipe: Recipe, otherModifiersHint: string): { spec: QuantizationSpec; recipeYaml: string } {
  const mods = recipe.modifiers;
  const other = mods.filter((m) => !(m instanceof QuantizationModifier));
  if (other.length) {
    throw new QuantizationError(
      `the recipe contains ${[...new Set(other.map((m) => m.type))].join(', ')}; data-free oneshot runs QuantizationModifier recipes only (the others need the model executed on calibration data${otherModifiersHint ? `, ${otherModifiersHint}` : ''})`,
    );
  }
  if (mods.length !== 1) throw new QuantizationError(`data-free oneshot takes a recipe with one QuantizationModifier, got ${mods.length}`);
  const m = mods[0] as QuantizationModifier;
  if (!m.hasConfig()) throw new QuantizationError(`${m.recipePath}: QuantizationModifier requires that quantization fields be specified`);
  if (m.resolvedConfig.kvCacheScheme) throw new QuantizationError(`${m.recipePath}: kv_cache_scheme needs calibration data (key/value scales are observed from activations); data-free oneshot cannot apply it`);
  const cfg = toKernelConfig(m.resolvedConfig, m.recipePath.toString());
  return { spec: { groups: cfg.groups, ignore: cfg.ignore }, recipeYaml: recipe.yaml() };
}
