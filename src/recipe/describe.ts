/**
 * A recipe as `wgc recipe check` shows it: every stage and modifier with all
 * fields resolved (defaults filled in), what quantizing modifiers resolve to,
 * the pipeline the recipe implies, and validation warnings.
 */
import { QuantizationMixin } from '../modifiers/quantization/mixin.js';
import { quantizationArgsToDisplay, quantizationSchemeToDisplay } from '../modifiers/quantization/args.js';
import { inferPipeline } from '../pipelines/registry.js';
import type { Recipe } from './recipe.js';

export interface ModifierDescription {
  readonly type: string;
  readonly group: string | null;
  /** Path in the recipe (`quant_stage.quant_modifiers.GPTQModifier`). */
  readonly path: string;
  readonly requiresCalibrationData: boolean;
  /** Every field by recipe name; a default decided at run time is null here and explained in `deferredDefaults`. */
  readonly fields: Record<string, unknown>;
  readonly deferredDefaults: Record<string, string>;
  /** For quantizing modifiers: the config groups, KV-cache scheme and ignore list the fields resolve to. */
  readonly resolved?: Record<string, unknown>;
  readonly warnings: readonly string[];
}

export interface RecipeDescription {
  readonly stages: { readonly name: string; readonly modifiers: ModifierDescription[] }[];
  readonly args: Readonly<Record<string, unknown>>;
  /** The pipeline `oneshot` infers when none is given, and why. */
  readonly pipeline: { readonly inferred: 'sequential' | 'datafree'; readonly reason: string };
  readonly modifierCount: number;
}

export function describeRecipe(recipe: Recipe): RecipeDescription {
  const stages = recipe.stages.map((s) => ({
    name: s.name,
    modifiers: s.modifiers.map((m): ModifierDescription => {
      const fields: Record<string, unknown> = {};
      const deferredDefaults: Record<string, string> = {};
      for (const f of m.resolvedFields()) {
        fields[f.name] = f.value === undefined ? null : f.value;
        if (f.value === undefined && f.defaultLabel) deferredDefaults[f.name] = f.defaultLabel;
      }
      let resolved: Record<string, unknown> | undefined;
      if (m instanceof QuantizationMixin) {
        const cfg = m.resolvedConfig;
        const groups: Record<string, unknown> = {};
        for (const [name, scheme] of Object.entries(cfg.configGroups)) groups[name] = quantizationSchemeToDisplay(scheme);
        resolved = {
          config_groups: groups,
          kv_cache_scheme: cfg.kvCacheScheme ? quantizationArgsToDisplay(cfg.kvCacheScheme) : null,
          ignore: [...cfg.ignore],
        };
      }
      return {
        type: m.type,
        group: m.group,
        path: m.recipePath.toString(),
        requiresCalibrationData: m.requiresCalibrationData,
        fields,
        deferredDefaults,
        resolved,
        warnings: [...m.warnings],
      };
    }),
  }));
  const mods = recipe.modifiers;
  const inferred = inferPipeline(mods);
  const needy = [...new Set(mods.filter((m) => m.requiresCalibrationData).map((m) => m.type))];
  const reason = inferred === 'sequential' ? `${needy.join(', ')} need${needy.length === 1 ? 's' : ''} calibration data` : 'no modifier needs calibration data';
  return { stages, args: recipe.args, pipeline: { inferred, reason }, modifierCount: mods.length };
}
