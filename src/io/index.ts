/**
 * Checkpoint I/O, browser-safe: byte sources, safetensors reading and
 * writing, Hugging Face model folders, compressed-tensors. Node file and
 * folder implementations live in `src/io/node/`.
 */
export { CheckpointError } from './errors.js';
export { type ByteSource, MemorySource, BlobSource, readAllBytes, readAllText, readJson } from './source.js';
export { type FolderSource, type OutputFolder, type ByteSink, MemoryFolder, BlobFolder, writeWholeFile, checkFileName } from './folder.js';
export { SAFETENSORS_DTYPES, type SafetensorsDType, type DTypeArrays, type TensorArray, dtypeSize, dtypeRank, isSafetensorsDType, typedView, bytesOf } from './safetensors/dtype.js';
export { type TensorInfo, type SafetensorsHeader, MAX_HEADER_BYTES, parseHeaderLength, parseSafetensorsHeader } from './safetensors/header.js';
export { type TensorStore, type TypedTensor, SafetensorsStore, SafetensorsFile, openSafetensors, STREAM_CHUNK_BYTES } from './safetensors/reader.js';
export { SAFETENSORS_FILE, SAFETENSORS_INDEX_FILE, type SafetensorsIndex, parseSafetensorsIndex, openSafetensorsFolder } from './safetensors/store.js';
export { bytesToF32 } from './safetensors/convert.js';
export { loadTensor, loadTensorF32, gpuDTypeOf } from './safetensors/gpu.js';
export {
  type TensorEntry, type TensorBytes, type WriteSafetensorsOptions, type WriteCheckpointOptions, type WrittenWeights,
  writeSafetensors, writeSafetensorsCheckpoint, buildSafetensorsHeader, canonicalOrder, planShards, shardFileName, entryByteLength, compareNatural,
} from './safetensors/writer.js';
export {
  roundHalfEven, bf16ToF32, f32ToBf16, f16ToF32, f32ToF16, fp8E4M3ToF32, f32ToFp8E4M3, fp8E5M2ToF32,
  f16ArrayToF32, bf16ArrayToF32, fp8E4M3ArrayToF32, fp8E5M2ArrayToF32, f32ArrayToBf16, f32ArrayToF16, f32ArrayToFp8E4M3,
} from './numeric/float.js';
export { type ModelConfig, type RopeConfig, type RopeScaling, parseModelConfig } from './model/config.js';
export { CONFIG_FILE, type ModelFolder, isCarriedFile, readModelConfig, openModelFolder, copyCarriedFiles, buildOutputConfig } from './model/folder.js';
export { encodeFp4, decodeFp4, packFp4, unpackFp4, FP4_E2M1_VALUES } from './numeric/fp4.js';
export { packInt32, unpackInt32, packZeroPoints, unpackZeroPoints, packedWords } from './compressed/pack.js';
export {
  type QuantizationStrategy, type CompressionFormat, type LayerFormat, type QuantizationArgs, type QuantizationArgsInput, type QuantizationScheme,
  type QuantizationSchemeInput, type QuantizationConfig, type ParseContext, WRITABLE_FORMATS, COMPRESSION_FORMATS, TARGET_CT_VERSION,
  normalizeQuantizationArgs, normalizeQuantizationScheme, inferFormat,
} from './compressed/args.js';
export {
  type QuantizationConfigInput, type ResolvedQuantization, type ParsedQuantizationConfig, buildQuantizationConfig, parseQuantizationConfig, scaleDtypeFor, describeArgs,
} from './compressed/config.js';
export { type ScaleDType, type LayerRole, type LayerTensorSpec, compressedLayerLayout, weightScaleShape, groupCount } from './compressed/layout.js';
export { type MatchKind, matchTarget, bestMatch, isIgnored, isClassTarget, looksLikeEmbedding } from './compressed/match.js';
export { type Lazy, type QuantizedLayer, type CompressedCheckpointInput, type WrittenCheckpoint, writeCompressedCheckpoint, denseEntries } from './compressed/writer.js';
export { type CompressedModule, type DequantizeOptions, CompressedCheckpoint, dequantizeWeight } from './compressed/reader.js';
export { type InspectReport, type InspectedTensor, type InspectedGroup, inspectFolder, inspectSafetensorsFile, formatInspectReport } from './inspect.js';
