/**
 * compressed-tensors' `PRESET_SCHEMES` in the GPU quantizer's form. The table
 * itself is src/modifiers/quantization/presets.ts (CT's own arguments); each
 * preset goes through the recipe→kernel converter, so fields CT leaves unset
 * take this side's defaults (static observer "minmax", §2.7 rule 3). Names are
 * matched case-insensitively, as `preset_name_to_scheme` does.
 */
import { PRESET_ARGS, PRESET_NAMES, isPresetScheme } from '../modifiers/quantization/presets.js';
import { toKernelArgs } from '../modifiers/quantization/convert.js';
import { makeQuantizationScheme, type QuantizationScheme } from './args.js';

export { PRESET_NAMES, isPresetScheme };

/**
 * The preset `name` applied to `targets` (`preset_name_to_scheme`). Unknown
 * names are an error listing the known ones.
 */
export function presetScheme(name: string, targets: readonly string[] = ['Linear']): QuantizationScheme {
  const key = name.toUpperCase();
  const p = isPresetScheme(key) ? PRESET_ARGS[key] : undefined;
  if (!p) throw new RangeError(`unknown quantization scheme "${name}" (presets: ${PRESET_NAMES.join(', ')})`);
  return makeQuantizationScheme(
    {
      targets,
      weights: p.weights ? toKernelArgs(p.weights, `${key}.weights`) : null,
      inputActivations: p.inputActivations ? toKernelArgs(p.inputActivations, `${key}.input_activations`) : null,
    },
    key,
  );
}
