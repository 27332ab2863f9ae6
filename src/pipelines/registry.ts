/**
 * The pipeline registry and llm-compressor's selection rule
 * (`CalibrationPipeline.from_modifiers`): `sequential` when any modifier needs
 * calibration data, else `datafree`; a user choice wins, with a warning when
 * it differs from the inferred one.
 */
import type { Modifier } from '../modifiers/modifier.js';
import { dataFreePipeline } from './datafree.js';
import { basicPipeline } from './basic.js';
import { sequentialPipeline } from './sequential.js';
import { layerSequentialPipeline } from './layerSequential.js';
import type { CalibrationPipeline } from './pipeline.js';

/** Pipelines llm-compressor has had; `independent` is not implemented. */
export const KNOWN_PIPELINES = ['datafree', 'basic', 'sequential', 'layer_sequential', 'independent'] as const;

const registry = new Map<string, CalibrationPipeline>(
  [dataFreePipeline, basicPipeline, sequentialPipeline, layerSequentialPipeline].map((p) => [p.name.replace(/-/g, '_'), p]),
);

/** llm-compressor's `standardize_lookup_name`: case and `-`/`_` do not matter. */
function lookupName(name: string): string {
  return name.trim().toLowerCase().replace(/-/g, '_');
}

/** Adds (or replaces) a pipeline under its name. */
export function registerPipeline(pipeline: CalibrationPipeline): void {
  registry.set(lookupName(pipeline.name), pipeline);
}

export function unregisterPipeline(name: string): void {
  registry.delete(lookupName(name));
}

export function registeredPipelines(): string[] {
  return [...registry.values()].map((p) => p.name);
}

/** The pipeline called `name`, or an error saying which exist. */
export function getPipeline(name: string): CalibrationPipeline {
  const p = registry.get(lookupName(name));
  if (p) return p;
  const known = (KNOWN_PIPELINES as readonly string[]).includes(lookupName(name));
  throw new Error(
    `Calibration pipeline "${name}" is not ${known ? 'available yet' : 'known'} in webgpu-compressor (registered: ${registeredPipelines().join(', ') || 'none'})`,
  );
}

/** `sequential` if any modifier needs calibration data, else `datafree`. */
export function inferPipeline(modifiers: readonly Modifier[]): 'sequential' | 'datafree' {
  return modifiers.some((m) => m.requiresCalibrationData) ? 'sequential' : 'datafree';
}

export interface PipelineSelection {
  readonly pipeline: CalibrationPipeline;
  readonly inferred: 'sequential' | 'datafree';
  /** Set when the user's choice differs from the inferred one. */
  readonly warning?: string;
}

/** Picks the pipeline for `modifiers`, honouring the user's choice. */
export function selectPipeline(modifiers: readonly Modifier[], user?: string): PipelineSelection {
  const inferred = inferPipeline(modifiers);
  const chosen = user ?? inferred;
  let pipeline: CalibrationPipeline;
  try {
    pipeline = getPipeline(chosen);
  } catch (e) {
    if (user !== undefined) throw e;
    const needy = modifiers.filter((m) => m.requiresCalibrationData).map((m) => m.type);
    throw new Error(`${(e as Error).message}. ${[...new Set(needy)].join(', ')} need${needy.length === 1 ? 's' : ''} calibration data, which needs the "sequential" (or "basic") pipeline`);
  }
  const warning =
    user !== undefined && lookupName(user) !== inferred
      ? `Calibration pipeline is set to \`${user}\`, but it is recommended to use \`${inferred}\``
      : undefined;
  return { pipeline, inferred, warning };
}
