/**
 * webgpu-compressor: browser-safe public API. Node-only pieces (Dawn
 * acquisition, file-system sources) are exported from `webgpu-compressor/node`.
 */
export { Hardware, GpuError, type DeviceCaps, type AdapterSummary, type HardwareOptions } from './gpu/hardware.js';
export { acquireBrowserHardware } from './gpu/browser.js';
export { Tensor, type TensorChunk, type TensorOptions } from './gpu/tensor.js';
export { type DType, dtypeBytes } from './gpu/dtype.js';
export { Kernel, KernelRegistry, type KernelSpec, type DispatchArgs, type BufferSlice } from './gpu/kernel.js';
export { castToF32 } from './gpu/kernels/elementwise.js';
export * from './io/index.js';
export * from './core/index.js';
export { Recipe, RecipeError, NotImplementedError, loadRecipe, describeRecipe, FieldPath, field, t, camelCase, snakeCase, parseFields, fieldsToPlain, type RecipeInput, type RecipeOptions, type RecipeStage, type SourceLocation, type LoadRecipeOptions, type RecipeDescription, type ModifierDescription, type FieldSpec, type FieldType, type FieldsIn, type FieldsOut, type KeyStyle, type CamelCase, type ParseContext as RecipeParseContext } from './recipe/index.js';
export { isMatch, matchName, matchClass, matchTargets, matchNamedModules, matchModulesSet, lowestCommonAncestorName, targetProblem, compilePythonRegex, pythonReMatch, type MatchableModule, type ModuleTree, type Targets } from './recipe/index.js';
export { Modifier, MODIFIER_FIELDS, notImplemented, type ModifierClass, type ModifierContext, type ModifierOptions, type InitializeOptions, type ResolvedField } from './modifiers/modifier.js';
export { ModifierFactory } from './modifiers/factory.js';
export { QuantizationModifier } from './modifiers/quantization/base.js';
export { QuantizationMixin, QUANTIZATION_MIXIN_FIELDS, KV_CACHE_TARGETS, type QuantizationConfig as ModifierQuantizationConfig } from './modifiers/quantization/mixin.js';
export { quantizationArgs, quantizationScheme, type QuantizationArgs as RecipeQuantizationArgs, type QuantizationScheme as RecipeQuantizationScheme, type ActivationOrdering, type DynamicType } from './modifiers/quantization/args.js';
export { PRESET_SCHEMES, PRESET_NAMES, isPresetScheme, presetNameToScheme, type PresetScheme } from './modifiers/quantization/presets.js';
export { GPTQModifier } from './modifiers/gptq/base.js';
export { AWQModifier, type AWQMapping } from './modifiers/awq/base.js';
export { SmoothQuantModifier, type SmoothQuantMapping } from './modifiers/smoothquant/base.js';
export { SparsityModifierBase } from './modifiers/pruning/sparsityBase.js';
export { SparseGPTModifier } from './modifiers/pruning/sparsegpt.js';
export { WandaPruningModifier } from './modifiers/pruning/wanda.js';
export { MagnitudePruningModifier } from './modifiers/pruning/magnitude.js';
export { ConstantPruningModifier } from './modifiers/pruning/constant.js';
export * from './pipelines/index.js';
export * from './loggers/index.js';
export { oneshot, type OneshotOptions, type OneshotResult, type SaveFunction } from './oneshot.js';
export {
  type CausalLM, type KvCache, type SequenceShape, isCausalLM, openCausalLM, causalLMFromHostWeights, type ExecutionCaveat,
  generateGreedy, argmax, type GenerateOptions, evaluatePerplexity, type PerplexityOptions, type PerplexityRun,
  calibrationSamples, type CalibrationData, type SampleOptions, parseLlamaConfig, ModelConfigError, LLAMA_FAMILY_ARCHITECTURES,
  type LlamaConfig, type LlamaFamilyArchitecture, type RopeScaling as LlamaRopeScaling, LlamaForCausalLM, llamaWeightSpecs,
  layerWeightSpecs, llamaParameterCount, type WeightSpec, LlamaReference,
} from './models/index.js';
export {
  createTokenizer, TokenizerError, type TextTokenizer, splitDocuments, parseJsonl, parseTokenIds, tokenizeDocuments, tokenizeDataset,
  DatasetError, type DatasetInput, type JsonlRecord, drawCalibrationSamples, concatenatedWindows,
  type CalibrationOptions as CalibrationSampleOptions, perplexityWindows, PerplexityAccumulator, type PerplexityResult, seededRandom, shuffledIndices,
} from './data/index.js';
