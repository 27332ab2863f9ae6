/**
 * Model execution (browser-safe): Llama-family forward on WebGPU, loading
 * from a model folder, greedy generation, perplexity, calibration data forms.
 * Node path helpers live in `src/models/node.ts`.
 */
export { type CausalLM, type KvCache, type SequenceShape, isCausalLM } from './causalLM.js';
export { openCausalLM, causalLMFromHostWeights, type ExecutionCaveat } from './load.js';
export { generateGreedy, argmax, type GenerateOptions } from './generate.js';
export { evaluatePerplexity, type PerplexityOptions, type PerplexityRun } from './evaluate.js';
export { calibrationSamples, type CalibrationData, type SampleOptions } from './calibrationData.js';
export { parseLlamaConfig, ModelConfigError, LLAMA_FAMILY_ARCHITECTURES, type LlamaConfig, type LlamaFamilyArchitecture, type RopeScaling } from './llama/config.js';
export { LlamaForCausalLM } from './llama/model.js';
export { llamaWeightSpecs, layerWeightSpecs, llamaParameterCount, type WeightSpec } from './llama/weights.js';
export { LlamaReference } from './reference/llama.js';
