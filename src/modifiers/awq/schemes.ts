/**
 * Which weight quantization AWQ's grid search imitates for each balance
 * layer: the scheme the quantizing modifiers after it in the recipe
 * (QuantizationModifier, GPTQModifier) assign to that module. In
 * llm-compressor those modifiers attach `quantization_scheme` to the modules
 * at initialize and AWQ reads it at calibration start; here AWQ resolves the
 * same config groups with the same matching (first group whose targets
 * match and whose ignore list does not; a later modifier overrides an
 * earlier one, as re-attaching a scheme does).
 */
import type { Module, Model } from '../../core/model.js';
import { makeQuantizationArgs, type QuantizationArgs } from '../../quantization/args.js';
import type { ComputeDtype } from '../../quantization/numerics.js';
import { isMatch } from '../../recipe/match.js';
import { toKernelConfig } from '../quantization/convert.js';
import type { QuantizationMixin } from '../quantization/mixin.js';

/** A balance layer's weight quantization as the search applies it. */
export interface SearchWeightScheme {
  /** The scheme's weight args with the observer replaced by `memoryless_minmax` (llm-compressor patches it so during the search). */
  readonly args: QuantizationArgs;
  /** The scheme's own weight args. */
  readonly schemeArgs: QuantizationArgs;
  /** Which modifier and config group assigned it (for messages). */
  readonly source: string;
}

/** Weight schemes of every 2-D-weight module the given quantizers target. */
export function searchWeightSchemes(model: Model, quantizers: readonly QuantizationMixin[]): Map<Module, SearchWeightScheme> {
  const out = new Map<Module, SearchWeightScheme>();
  for (const q of quantizers) {
    const cfg = toKernelConfig(q.resolvedConfig, q.recipePath.toString());
    const groups = Object.entries(cfg.groups);
    for (const m of model.root.modules()) {
      const w = m.getParameter('weight');
      if (!w || w.shape.length !== 2 || m.isA('Embedding')) continue;
      const hit = groups.find(([, s]) => s.weights && isMatch(m, s.targets, cfg.ignore));
      if (!hit) continue;
      const [group, scheme] = hit;
      const schemeArgs = scheme.weights!;
      const args = makeQuantizationArgs({ ...schemeArgs, observer: 'memoryless_minmax', observerKwargs: {} }, `${q.recipePath}.config_groups.${group}.weights`);
      out.set(m, { args, schemeArgs, source: `${q.recipePath} (config group ${group})` });
    }
  }
  return out;
}

/** The dtype a model's weights are quantized in (its config's torch_dtype), as the quantization modifier uses it. */
export function modelComputeDtype(config: Readonly<Record<string, unknown>> | undefined): ComputeDtype {
  const d = String(config?.torch_dtype ?? config?.dtype ?? 'float32');
  return d === 'bfloat16' ? 'bf16' : d === 'float16' || d === 'half' ? 'f16' : 'f32';
}
