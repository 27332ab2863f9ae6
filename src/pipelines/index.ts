/** Pipelines: the interface, the registry (with the built-in `datafree` pipeline), and layer grouping. */
export type { CalibrationOptions, CalibrationPipeline, PipelineContext } from './pipeline.js';
export { KNOWN_PIPELINES, getPipeline, inferPipeline, registerPipeline, registeredPipelines, selectPipeline, unregisterPipeline, type PipelineSelection } from './registry.js';
export { dataFreePipeline, layerGroups } from './datafree.js';
export { basicPipeline } from './basic.js';
export { sequentialPipeline, runLayerwiseCalibration, IntermediatesCache, DEFAULT_ACTIVATION_BUDGET, type LayerwiseOptions, type LayerwiseStats } from './sequential.js';
export { layerSequentialPipeline } from './layerSequential.js';

