/**
 * The `layer_sequential` pipeline (llm-compressor 0.8.1
 * `pipelines/layer_sequential/pipeline.py`, removed upstream by #1998 in
 * favour of traced subgraphs): the same calibrate → SEQUENTIAL_EPOCH_END →
 * propagate loop as `sequential`, with the seed's layer-by-layer semantics:
 * - the first layer's inputs (the embeddings) are captured once, with hooks
 *   off, before CALIBRATION_START; the embeddings are in no subgraph;
 * - each subgraph is exactly one sequential target's subtree (a decoder
 *   layer), each layer's output feeding the next directly;
 * - the final norm and lm_head never run and are in no subgraph, so
 *   modifiers that target them get no SEQUENTIAL_EPOCH_END for them.
 * `sequential` instead folds the embeddings into the first subgraph and the
 * head into the last (as llm-compressor's traced partition does).
 */
import type { CalibrationPipeline, PipelineContext } from './pipeline.js';
import { runLayerwiseCalibration } from './sequential.js';

export const layerSequentialPipeline: CalibrationPipeline = {
  name: 'layer_sequential',
  description: 'decoder layer by decoder layer from captured embeddings: calibrate with hooks, compress, propagate (llm-compressor 0.8.1)',
  needsData: true,
  async run(ctx: PipelineContext): Promise<void> {
    await runLayerwiseCalibration(ctx, 'layer_sequential', { layerOnly: true });
  },
};
