/**
 * Recipe-side quantization arguments (./args.ts: field types, recipe error
 * paths, `wgc recipe check` display) → the numeric arguments the GPU
 * quantizer takes (src/quantization/args.ts). Both follow compressed-tensors'
 * rules; this is the one place they meet.
 */
import {
  makeQuantizationArgs, makeQuantizationScheme, QuantizationConfigError,
  type QuantizationArgs as KernelArgs, type QuantizationScheme as KernelScheme,
} from '../../quantization/args.js';
import type { QuantizationArgs, QuantizationScheme } from './args.js';
import type { QuantizationConfig } from './mixin.js';

/** Config groups and ignore list in kernel form. */
export interface KernelQuantizationConfig {
  readonly groups: Readonly<Record<string, KernelScheme>>;
  readonly ignore: readonly string[];
}

/**
 * One recipe `QuantizationArgs` in kernel form. Also takes a partial one (a
 * preset as compressed-tensors writes it): unset fields get the kernel
 * side's defaults. Actorder aliases are resolved by `makeQuantizationArgs`.
 */
export function toKernelArgs(a: Partial<QuantizationArgs>, field: string): KernelArgs {
  // zp_dtype is implied by type and bits on the kernel side.
  const { zpDtype: _implied, observer, observerKwargs, ...shared } = a;
  return makeQuantizationArgs(
    {
      ...shared,
      // 'memoryless' is what old configs wrote for dynamic args; for static ones it means min-max.
      observer: observer === 'memoryless' ? 'memoryless_minmax' : observer,
      observerKwargs: observerKwargs as Record<string, number | string | boolean> | undefined,
    },
    field,
  );
}

/** One recipe scheme in kernel form. */
export function toKernelScheme(s: QuantizationScheme, field: string): KernelScheme {
  return makeQuantizationScheme(
    {
      targets: s.targets,
      weights: s.weights ? toKernelArgs(s.weights, `${field}.weights`) : null,
      inputActivations: s.inputActivations ? toKernelArgs(s.inputActivations, `${field}.input_activations`) : null,
      outputActivations: s.outputActivations ? toKernelArgs(s.outputActivations, `${field}.output_activations`) : null,
      format: s.format,
    },
    field,
  );
}

/** A modifier's resolved config in kernel form; errors name the recipe path. */
export function toKernelConfig(cfg: QuantizationConfig, path: string): KernelQuantizationConfig {
  const groups: Record<string, KernelScheme> = {};
  try {
    for (const [name, s] of Object.entries(cfg.configGroups)) groups[name] = toKernelScheme(s, `${path}.config_groups.${name}`);
  } catch (e) {
    if (e instanceof QuantizationConfigError) throw new Error(e.message);
    throw e;
  }
  return { groups, ignore: [...cfg.ignore] };
}
