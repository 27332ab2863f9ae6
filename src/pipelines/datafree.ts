/**
 * The `datafree` pipeline (llm-compressor `pipelines/data_free/pipeline.py`):
 * no forward passes. It fires CALIBRATION_START, then SEQUENTIAL_EPOCH_END
 * once per layer group, then CALIBRATION_END. llm-compressor sends all
 * modules in one event; here each sequential unit (decoder layer) is its own
 * group, so a modifier can compress, write and release one layer's weights
 * before loading the next.
 */
import type { Subgraph } from '../core/events.js';
import type { Model, Module } from '../core/model.js';
import { isMatch } from '../recipe/match.js';
import type { CalibrationPipeline, PipelineContext } from './pipeline.js';

/**
 * Splits the model's modules into groups in module order: everything before
 * the first sequential unit (embeddings, containers) joins the first unit's
 * group, each unit starts a new group with its whole subtree, and modules
 * after the last unit (final norm, lm_head) join the last group. Without
 * targets, or when none matches, there is one group with every module.
 */
export function layerGroups(model: Model, sequentialTargets: readonly string[] | undefined): Module[][] {
  const all = [...model.root.modules()];
  const targets = sequentialTargets ?? model.defaultSequentialTargets ?? [];
  if (targets.length === 0) return [all];
  const units: Module[] = [];
  for (const m of all) {
    // A unit nested in another unit belongs to its ancestor's group.
    if (units.some((u) => m.name.startsWith(u.name + '.'))) continue;
    if (isMatch(m, targets)) units.push(m);
  }
  if (units.length === 0) return [all];
  const unitOf = (m: Module) => units.findIndex((u) => m === u || m.name.startsWith(u.name + '.'));
  const groups: Module[][] = units.map(() => []);
  let current = 0;
  for (const m of all) {
    const u = unitOf(m);
    if (u >= 0) current = u;
    groups[current].push(m);
  }
  return groups;
}

export const dataFreePipeline: CalibrationPipeline = {
  name: 'datafree',
  description: 'no forward passes; modifiers compress one layer group at a time from the weights alone',
  needsData: false,
  async run(ctx: PipelineContext): Promise<void> {
    const groups = layerGroups(ctx.model, ctx.options.sequentialTargets);
    const cb = ctx.session.callbacks;
    await cb.calibrationStart();
    for (let i = 0; i < groups.length; i++) {
      if (ctx.signal?.aborted) throw ctx.signal.reason instanceof Error ? ctx.signal.reason : new Error('calibration aborted');
      const subgraph: Subgraph = { index: i, count: groups.length, modules: groups[i] };
      await cb.sequentialEpochEnd(subgraph);
      ctx.loggers.progress('layer groups', i + 1, groups.length);
    }
    await cb.calibrationEnd();
  },
};
