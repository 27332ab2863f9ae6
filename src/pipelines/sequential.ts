/**
 * The `sequential` calibration pipeline (llm-compressor
 * `pipelines/sequential/pipeline.py`, reference §5): the model is cut into
 * subgraphs at its sequential targets (default: the decoder layer class), and
 * for each subgraph in turn
 *   1. a calibration pass runs the subgraph over every sample with hooks on
 *      (GPTQ Hessians, observers, activation statistics accumulate),
 *   2. SEQUENTIAL_EPOCH_END tells the modifiers to compress its modules,
 *   3. a propagation pass runs it again with hooks off, so the next subgraph
 *      sees the outputs of the compressed one (`propagateError`, default on;
 *      off: the calibration pass's outputs are kept instead),
 *   4. its unmodified weights are released, so only the subgraph being
 *      calibrated holds weights on the GPU.
 * Activations between subgraphs are cached per sample, on the GPU while they
 * fit a budget and in host memory beyond it.
 *
 * Subgraphs follow `layerGroups` (src/pipelines/datafree.ts): modules before
 * the first target (the embeddings) join the first subgraph and modules after
 * the last (final norm, lm_head) the last one. Where llm-compressor traces an
 * FX graph, this engine runs the model's forward in stages — embeddings, each
 * decoder layer, final norm + lm_head — so a subgraph must consist of whole
 * stages: targets finer than a decoder layer (`Linear`) are an error here.
 * The final norm and lm_head run only if one of their hooks is active
 * (llm-compressor never computes logits during calibration either).
 */
import type { Subgraph } from '../core/events.js';
import type { Module } from '../core/model.js';
import type { Hardware } from '../gpu/hardware.js';
import { Tensor } from '../gpu/tensor.js';
import { isCausalLM, type CausalLM } from '../models/causalLM.js';
import { calibrationSamples, defaultSampleLength } from '../models/calibrationData.js';
import { layerGroups } from './datafree.js';
import type { CalibrationPipeline, PipelineContext } from './pipeline.js';

/** Default bytes of activations kept on the GPU between subgraphs; the rest go to host memory. */
export const DEFAULT_ACTIVATION_BUDGET = 1024 * 1024 * 1024;

/**
 * Per-sample activations between subgraphs: GPU tensors while their total
 * stays under `budgetBytes`, host copies beyond it (re-uploaded on use).
 */
export class IntermediatesCache {
  private readonly gpu = new Map<number, Tensor>();
  private readonly host = new Map<number, { data: Float32Array; shape: number[] }>();
  private gpuBytes = 0;
  /** Samples that had to be offloaded to host memory, over the whole run. */
  offloads = 0;

  constructor(private readonly hw: Hardware, private readonly budgetBytes: number) {}

  /** Stores `tensor` for sample `i` (taking ownership), offloading it when the GPU budget is spent. */
  async put(i: number, tensor: Tensor): Promise<void> {
    this.drop(i);
    if (this.gpuBytes + tensor.byteLength <= this.budgetBytes) {
      this.gpu.set(i, tensor);
      this.gpuBytes += tensor.byteLength;
      return;
    }
    this.host.set(i, { data: await tensor.readF32(), shape: [...tensor.shape] });
    tensor.dispose();
    this.offloads++;
  }

  /** Removes and returns sample `i`'s tensor (the caller owns it). */
  take(i: number): Tensor {
    const t = this.gpu.get(i);
    if (t) {
      this.gpu.delete(i);
      this.gpuBytes -= t.byteLength;
      return t;
    }
    const h = this.host.get(i);
    if (!h) throw new Error(`intermediates cache: no activations for sample ${i}`);
    this.host.delete(i);
    return Tensor.fromData(this.hw, h.data, h.shape, 'f32');
  }

  /** Sample `i`'s tensor without removing it; call `done()` when finished with it. */
  borrow(i: number): { tensor: Tensor; done: () => void } {
    const t = this.gpu.get(i);
    if (t) return { tensor: t, done: () => {} };
    const h = this.host.get(i);
    if (!h) throw new Error(`intermediates cache: no activations for sample ${i}`);
    const up = Tensor.fromData(this.hw, h.data, h.shape, 'f32');
    return { tensor: up, done: () => up.dispose() };
  }

  has(i: number): boolean {
    return this.gpu.has(i) || this.host.has(i);
  }

  get residentBytes(): number {
    return this.gpuBytes;
  }

  private drop(i: number): void {
    const t = this.gpu.get(i);
    if (t) {
      this.gpuBytes -= t.byteLength;
      t.dispose();
      this.gpu.delete(i);
    }
    this.host.delete(i);
  }

  dispose(): void {
    for (const t of this.gpu.values()) t.dispose();
    this.gpu.clear();
    this.host.clear();
    this.gpuBytes = 0;
  }
}

/** Stages of the forward, in order: embeddings (-1), decoder layers (0..n-1), head (n). */
interface StagePlan {
  /** Modules of the subgraph (what SEQUENTIAL_EPOCH_END carries). */
  readonly modules: readonly Module[];
  readonly first: number;
  readonly last: number;
}

/**
 * Assigns each module its forward stage and checks that `groups` cut the
 * forward only between stages. Containers (the root, `model`, `model.layers`)
 * belong to no stage.
 */
export function planStages(model: CausalLM, groups: readonly (readonly Module[])[]): StagePlan[] {
  const n = model.numLayers;
  const within = (m: Module, unit: Module) => m === unit || m.name.startsWith(unit.name + '.');
  const stageOf = (m: Module): number | undefined => {
    for (let i = 0; i < n; i++) if (within(m, model.decoderLayers[i])) return i;
    if (within(m, model.embedModule)) return -1;
    if (model.headModules.some((h) => within(m, h))) return n;
    return undefined;
  };
  const owner = new Map<number, number>();
  const plans: StagePlan[] = [];
  groups.forEach((modules, g) => {
    let first = Infinity;
    let last = -Infinity;
    for (const m of modules) {
      const s = stageOf(m);
      if (s === undefined) continue;
      const prev = owner.get(s);
      if (prev !== undefined && prev !== g) {
        const where = s >= 0 && s < n ? `decoder layer ${model.decoderLayers[s].name}` : s < 0 ? 'the embeddings' : 'the final norm / lm_head';
        throw new Error(
          `sequential targets cut ${where} into several subgraphs (at ${m.name}); this engine runs whole decoder layers — ` +
            `use the decoder layer class (${model.defaultSequentialTargets?.join(', ') ?? 'the decoder layer'}) or coarser targets`,
        );
      }
      owner.set(s, g);
      first = Math.min(first, s);
      last = Math.max(last, s);
    }
    if (first !== Infinity) plans.push({ modules, first, last });
  });
  plans.sort((a, b) => a.first - b.first);
  for (let i = 1; i < plans.length; i++) {
    if (plans[i].first <= plans[i - 1].last) throw new Error('sequential targets produce interleaved subgraphs; they must follow the forward order');
  }
  return plans;
}

export interface LayerwiseOptions {
  /** Second, hook-free pass per subgraph so later subgraphs see compressed outputs (default true). */
  propagateError?: boolean;
  /** GPU bytes for cached activations (default 1 GiB). */
  activationBudgetBytes?: number;
  /**
   * `layer_sequential` semantics: embeddings computed once up front with hooks
   * off, each subgraph is one decoder layer's subtree only, the head never runs.
   */
  layerOnly?: boolean;
}

/** Statistics of one layer-wise calibration run (for logs and benchmarks). */
export interface LayerwiseStats {
  subgraphs: number;
  samples: number;
  /** High-water mark of GPU pool bytes during the run (weights, activations, modifier state). */
  peakGpuBytes: number;
  /** Samples moved to host memory. */
  offloads: number;
  seconds: number;
}

function requireCausalLM(ctx: PipelineContext, pipeline: string): CausalLM {
  if (!isCausalLM(ctx.model)) {
    throw new Error(`the ${pipeline} pipeline needs a model that can run forwards; ${ctx.model.architecture} was loaded as a module tree only`);
  }
  return ctx.model;
}

function checkAbort(ctx: PipelineContext): void {
  if (ctx.signal?.aborted) throw ctx.signal.reason instanceof Error ? ctx.signal.reason : new Error('calibration aborted');
}

/** Frees the GPU copies of a module's unmodified weights (they reload on demand). */
function releaseModule(m: Module): void {
  for (const sub of m.modules()) for (const p of sub.parameters.values()) p.release();
}

/**
 * One pass of a subgraph over every sample. The embedding stage (when the
 * subgraph starts with it) runs over all samples first and its weights are
 * released before the layers load theirs, so the GPU never holds the
 * (often largest) embedding table and a layer at the same time. With
 * `keepOutputs` the subgraph's outputs replace the cached inputs; otherwise
 * the inputs stay cached for the next pass and the outputs are dropped.
 */
async function runPass(model: CausalLM, hw: Hardware, plan: StagePlan, samples: readonly Int32Array[], cache: IntermediatesCache, budget: number, keepOutputs: boolean): Promise<void> {
  const n = model.numLayers;
  let source = cache;
  let temp: IntermediatesCache | undefined;
  if (plan.first < 0) {
    // Unmodified layer weights still resident from the previous pass make room for the table (they reload after).
    for (let i = 0; i <= Math.min(plan.last, n - 1); i++) model.releaseLayer(i);
    temp = new IntermediatesCache(hw, Math.max(0, budget - cache.residentBytes));
    for (let s = 0; s < samples.length; s++) await temp.put(s, await model.embed(samples[s], { batch: 1, seqLen: samples[s].length }));
    releaseModule(model.embedModule);
    source = temp;
  }
  const lo = Math.max(plan.first, 0);
  const hi = Math.min(plan.last, n - 1);
  const head = plan.last >= n && model.headModules.some((m) => m.hasHooks('forward') || m.hasHooks('forward_pre'));
  try {
    for (let s = 0; s < samples.length; s++) {
      const shape = { batch: 1, seqLen: samples[s].length };
      // Inputs the next pass needs again are borrowed; otherwise taken and freed.
      const borrowed = keepOutputs || source === temp ? undefined : source.borrow(s);
      let h = borrowed ? borrowed.tensor : source.take(s);
      let owned = !borrowed;
      for (let i = lo; i <= hi; i++) {
        const next = await model.layerForward(i, h, shape);
        if (owned) h.dispose();
        h = next;
        owned = true;
      }
      if (head) (await model.logits(h)).dispose();
      borrowed?.done();
      if (keepOutputs) {
        if (!owned) throw new Error('a subgraph without stages');
        await cache.put(s, h);
      } else if (owned) {
        h.dispose();
      }
    }
  } finally {
    temp?.dispose();
  }
}

/**
 * The layer-wise calibration engine shared by `sequential` and
 * `layer_sequential`: fires CALIBRATION_START, one SEQUENTIAL_EPOCH_END per
 * subgraph, CALIBRATION_END.
 */
export async function runLayerwiseCalibration(ctx: PipelineContext, pipeline: string, options: LayerwiseOptions = {}): Promise<LayerwiseStats> {
  const t0 = performance.now();
  const model = requireCausalLM(ctx, pipeline);
  const samples = calibrationSamples(ctx.dataset, { ...ctx.options, maxSeqLength: ctx.options.maxSeqLength ?? defaultSampleLength(model) }, pipeline);
  const propagate = options.propagateError ?? true;
  const targets = ctx.options.sequentialTargets ?? model.defaultSequentialTargets;
  let plans: StagePlan[];
  if (options.layerOnly) {
    const groups = layerGroups(model, targets);
    plans = planStages(model, groups).map((p) => ({
      ...p,
      first: Math.max(p.first, 0),
      last: Math.min(p.last, model.numLayers - 1),
      // Only the units themselves: embeddings and head are outside every subgraph.
      modules: p.modules.filter((m) => model.decoderLayers.some((l) => m === l || m.name.startsWith(l.name + '.'))),
    })).filter((p) => p.first <= p.last && p.modules.length > 0);
  } else {
    plans = planStages(model, layerGroups(model, targets));
  }
  const hw = ctx.hardware;
  const budget = options.activationBudgetBytes ?? DEFAULT_ACTIVATION_BUDGET;
  const cache = new IntermediatesCache(hw, budget);
  const stats: LayerwiseStats = { subgraphs: plans.length, samples: samples.length, peakGpuBytes: 0, offloads: 0, seconds: 0 };
  hw.pool.resetPeak();
  const notePeak = () => {
    stats.peakGpuBytes = Math.max(stats.peakGpuBytes, hw.pool.stats().peakBytes);
  };
  const cb = ctx.session.callbacks;
  try {
    if (options.layerOnly) {
      // layer_sequential captures the first layer's inputs once, outside any subgraph.
      await model.root.hooks.withHooksDisabled(async () => {
        for (let s = 0; s < samples.length; s++) await cache.put(s, await model.embed(samples[s], { batch: 1, seqLen: samples[s].length }));
      });
      releaseModule(model.embedModule);
    }
    await cb.calibrationStart();
    for (let g = 0; g < plans.length; g++) {
      checkAbort(ctx);
      const plan = plans[g];
      // Calibration pass with hooks on; without error propagation its outputs are kept.
      await runPass(model, hw, plan, samples, cache, budget, !propagate);
      notePeak();
      const subgraph: Subgraph = { index: g, count: plans.length, modules: plan.modules };
      await cb.sequentialEpochEnd(subgraph);
      // Propagation pass: hooks off, outputs of the compressed subgraph replace the cached inputs.
      if (propagate) await model.root.hooks.withHooksDisabled(() => runPass(model, hw, plan, samples, cache, budget, true));
      notePeak();
      for (let i = Math.max(plan.first, 0); i <= Math.min(plan.last, model.numLayers - 1); i++) model.releaseLayer(i);
      for (const m of plan.modules) for (const p of m.parameters.values()) p.release();
      await hw.sync();
      ctx.loggers.progress(`${pipeline} subgraphs`, g + 1, plans.length);
    }
    await cb.calibrationEnd();
  } finally {
    stats.offloads = cache.offloads;
    cache.dispose();
  }
  stats.seconds = (performance.now() - t0) / 1000;
  ctx.loggers.info(
    `${pipeline}: ${plans.length} subgraphs × ${samples.length} samples in ${stats.seconds.toFixed(1)} s; peak GPU ${(stats.peakGpuBytes / 2 ** 20).toFixed(1)} MiB` +
      (stats.offloads ? `; ${stats.offloads} activations offloaded to host memory` : ''),
  );
  return stats;
}

export const sequentialPipeline: CalibrationPipeline = {
  name: 'sequential',
  description: 'one subgraph (default: decoder layer) at a time: calibrate with hooks, compress, propagate compressed outputs',
  needsData: true,
  async run(ctx: PipelineContext): Promise<void> {
    await runLayerwiseCalibration(ctx, 'sequential');
  },
};
