/**
 * The `basic` pipeline (llm-compressor `pipelines/basic/pipeline.py`): every
 * calibration sample runs through the whole model with hooks on, then one
 * SEQUENTIAL_EPOCH_END carries every module. No offloading and no error
 * propagation: the whole model's weights (plus modifier state such as GPTQ
 * Hessians) must fit on the GPU. The final norm and lm_head run only when
 * one of their hooks is active.
 */
import type { Subgraph } from '../core/events.js';
import { isCausalLM } from '../models/causalLM.js';
import { calibrationSamples, defaultSampleLength } from '../models/calibrationData.js';
import type { CalibrationPipeline, PipelineContext } from './pipeline.js';

export const basicPipeline: CalibrationPipeline = {
  name: 'basic',
  description: 'whole-model forwards over the calibration set, then one compression step for every module',
  needsData: true,
  async run(ctx: PipelineContext): Promise<void> {
    const model = ctx.model;
    if (!isCausalLM(model)) throw new Error(`the basic pipeline needs a model that can run forwards; ${model.architecture} was loaded as a module tree only`);
    const samples = calibrationSamples(ctx.dataset, { ...ctx.options, maxSeqLength: ctx.options.maxSeqLength ?? defaultSampleLength(model) }, 'basic');
    const cb = ctx.session.callbacks;
    const headHooked = () => model.headModules.some((m) => m.hasHooks('forward') || m.hasHooks('forward_pre'));
    await cb.calibrationStart();
    for (let s = 0; s < samples.length; s++) {
      if (ctx.signal?.aborted) throw ctx.signal.reason instanceof Error ? ctx.signal.reason : new Error('calibration aborted');
      const ids = samples[s];
      const shape = { batch: 1, seqLen: ids.length };
      let h = await model.embed(ids, shape);
      for (let i = 0; i < model.numLayers; i++) {
        const next = await model.layerForward(i, h, shape);
        h.dispose();
        h = next;
      }
      if (headHooked()) (await model.logits(h)).dispose();
      h.dispose();
      ctx.loggers.progress('basic samples', s + 1, samples.length);
    }
    const subgraph: Subgraph = { index: 0, count: 1, modules: [...model.root.modules()] };
    await cb.sequentialEpochEnd(subgraph);
    await cb.calibrationEnd();
  },
};
