/**
 * Builds a runnable {@link CausalLM} from a Hugging Face model folder (config
 * plus safetensors) or from weights in host memory. Browser-safe: the folder
 * comes from src/io (a Node directory, a browser File list, memory).
 */
import type { Hardware } from '../gpu/hardware.js';
import { Tensor, type TensorOptions } from '../gpu/tensor.js';
import { Parameter } from '../core/model.js';
import { CheckpointError } from '../io/errors.js';
import type { ModelFolder } from '../io/model/folder.js';
import type { TensorStore } from '../io/safetensors/reader.js';
import { loadTensorF32 } from '../io/safetensors/gpu.js';
import { CompressedCheckpoint } from '../io/compressed/reader.js';
import type { TensorInfo } from '../io/safetensors/header.js';
import { typedView } from '../io/safetensors/dtype.js';
import { quantizationSchemeFromJson, type QuantizationArgs, type QuantizationScheme } from '../quantization/args.js';
import { INPUT_PARAMETER_NAMES, setInputQuantization, unsupportedInputQuantization } from '../quantization/inputQuantization.js';
import { parseLlamaConfig, type LlamaConfig } from './llama/config.js';
import { LlamaForCausalLM } from './llama/model.js';
import type { WeightSpec } from './llama/weights.js';
import type { CausalLM } from './causalLM.js';

/** A parameter read from the checkpoint (as f32) on first use, and re-read after release(). */
function checkpointParameter(hw: Hardware, store: TensorStore, spec: WeightSpec): Parameter {
  if (!store.has(spec.name)) {
    throw new CheckpointError(store.name, `missing; ${spec.name} [${spec.shape.join(', ')}] is a weight of this architecture`, { tensor: spec.name });
  }
  const info = store.info(spec.name);
  if (info.shape.length !== spec.shape.length || info.shape.some((d, i) => d !== spec.shape[i])) {
    throw new CheckpointError(info.file, `has shape [${info.shape.join(', ')}], expected [${spec.shape.join(', ')}] from config.json`, { tensor: spec.name });
  }
  return Parameter.lazy({ shape: spec.shape, dtype: 'f32', load: () => loadTensorF32(hw, store, spec.name) });
}

/** A parameter dequantized from a compressed-tensors checkpoint (on the CPU, to f32) on first use. */
function compressedParameter(hw: Hardware, ckpt: CompressedCheckpoint, spec: WeightSpec): Parameter {
  const where = ckpt.weights.name;
  if (!ckpt.hasDense(spec.name)) {
    throw new CheckpointError(where, `missing; ${spec.name} [${spec.shape.join(', ')}] is a weight of this architecture (neither stored dense nor as a compressed module)`, { tensor: spec.name });
  }
  const shape = ckpt.denseShape(spec.name);
  if (shape.length !== spec.shape.length || shape.some((d, i) => d !== spec.shape[i])) {
    throw new CheckpointError(where, `has shape [${shape.join(', ')}], expected [${spec.shape.join(', ')}] from config.json`, { tensor: spec.name });
  }
  return Parameter.lazy({ shape: spec.shape, dtype: 'f32', load: async () => Tensor.fromData(hw, await ckpt.readDense(spec.name), spec.shape, 'f32') });
}

/** Runtime behaviour a checkpoint asks for that this forward does not reproduce (reported, not fatal). */
export interface ExecutionCaveat {
  readonly message: string;
}

/** A `[1]` parameter read from the checkpoint on first use: f32 values, or (zero points) i32. */
function scalarParameter(hw: Hardware, store: TensorStore, info: TensorInfo, dtype: 'f32' | 'i32'): Parameter {
  if (info.numel !== 1 || info.shape.length > 1) {
    throw new CheckpointError(info.file, `has shape [${info.shape.join(', ')}]; a per-tensor activation parameter is one value ([1])`, { tensor: info.name });
  }
  if (dtype === 'i32' && !['I8', 'I16', 'I32', 'I64', 'U8'].includes(info.dtype)) {
    throw new CheckpointError(info.file, `is ${info.dtype}; a zero point is an integer (I8)`, { tensor: info.name });
  }
  return Parameter.lazy({
    shape: [1],
    dtype,
    load: async () => {
      if (dtype === 'f32') return Tensor.fromData(hw, await store.readF32(info.name), [1], 'f32');
      const v = typedView(info.dtype, await store.readTensor(info.name));
      return Tensor.fromData(hw, Int32Array.of(Number(v[0])), [1], 'i32');
    },
  });
}

/**
 * Applies the checkpoint's input-activation quantization to the model: for
 * every compressed module whose config group has `input_activations`, the
 * args are recorded for the forward and the stored `input_scale` /
 * `input_zero_point` / `input_global_scale` become module parameters.
 * A static scheme without its stored values is a CheckpointError naming the
 * file and tensor; a scheme the forward cannot apply is a caveat.
 */
function applyInputQuantization(hw: Hardware, model: LlamaForCausalLM, ckpt: CompressedCheckpoint, file: string, caveats?: ExecutionCaveat[]): void {
  const unsupported = new Map<string, string>();
  const parsed = new Map<string, QuantizationScheme>();
  for (const m of ckpt.modules.values()) {
    const raw = m.scheme?.input_activations;
    if (!m.scheme || !raw || m.group === null) continue;
    let scheme = parsed.get(m.group);
    if (!scheme) {
      scheme = quantizationSchemeFromJson(m.scheme, `${file}: quantization_config.config_groups.${m.group}`);
      parsed.set(m.group, scheme);
    }
    const args = scheme.inputActivations as QuantizationArgs;
    const why = unsupportedInputQuantization(args);
    if (why) {
      unsupported.set(m.group, why);
      continue;
    }
    const module = model.root.getModule(m.module);
    if (!module) {
      caveats?.push({ message: `${file}: ${m.module} is compressed but is not a module of ${model.architecture}; its input quantization is not applied` });
      continue;
    }
    const stored = (key: string): TensorInfo => {
      const t = m.tensors.get(key);
      if (!t) throw new CheckpointError(ckpt.weights.name, `missing; ${m.group} quantizes the input of ${m.module} statically (${args.numBits}-bit ${args.type} ${args.strategy}), which needs it`, { tensor: `${m.module}.${key}` });
      return t;
    };
    if (args.strategy === 'tensor' && args.dynamic === false) {
      module.setParameter(INPUT_PARAMETER_NAMES.scale, scalarParameter(hw, ckpt.weights, stored('input_scale'), 'f32'));
      if (!args.symmetric) module.setParameter(INPUT_PARAMETER_NAMES.zeroPoint, scalarParameter(hw, ckpt.weights, stored('input_zero_point'), 'i32'));
    } else if (args.strategy === 'tensor_group') {
      module.setParameter(INPUT_PARAMETER_NAMES.globalScale, scalarParameter(hw, ckpt.weights, stored('input_global_scale'), 'f32'));
    }
    setInputQuantization(module, { args });
  }
  for (const [group, why] of unsupported) caveats?.push({ message: `${file}: config group ${group} quantizes input activations in a way the forward cannot apply (${why}); they run unquantized` });
}

/**
 * Opens the model of a Hugging Face folder for execution. The architecture
 * comes from config.json (`LlamaForCausalLM`, `MistralForCausalLM`,
 * `Qwen2ForCausalLM`, `Qwen3ForCausalLM`); weights load lazily, so opening
 * reads only headers. A compressed-tensors checkpoint is dequantized to f32
 * weight by weight as layers load (src/io/compressed/reader.ts). The folder
 * stays open until the model is disposed. Input-activation quantization of
 * the scheme is applied in the forward (dynamic per token / group, or the
 * stored static scales; src/quantization/inputQuantization.ts). `caveats`
 * receives what the forward leaves out: output-activation and KV-cache
 * quantization, and input schemes it cannot apply.
 */
export async function openCausalLM(hw: Hardware, folder: ModelFolder, caveats?: ExecutionCaveat[]): Promise<CausalLM> {
  const file = `${folder.folder.name}/config.json`;
  const config = parseLlamaConfig(folder.config.raw, file);
  const store = folder.weights;
  let parameterFor: (spec: WeightSpec) => Parameter = (spec) => checkpointParameter(hw, store, spec);
  const q = folder.config.quantizationConfig;
  if (q) {
    const ckpt = await CompressedCheckpoint.fromStore(store, q, file, folder.config);
    parameterFor = (spec) => compressedParameter(hw, ckpt, spec);
    const groups = Object.entries(ckpt.quantization?.config_groups ?? {});
    for (const [name, g] of groups) {
      if (g.output_activations) caveats?.push({ message: `${file}: config group ${name} quantizes output activations; the forward runs them unquantized` });
    }
    if (ckpt.quantization?.kv_cache_scheme) caveats?.push({ message: `${file}: kv_cache_scheme is set; the forward keeps keys and values unquantized` });
    const model = new LlamaForCausalLM(hw, config, parameterFor, folder.config.raw);
    applyInputQuantization(hw, model, ckpt, file, caveats);
    model.onDispose = () => folder.close();
    return model;
  }
  const model = new LlamaForCausalLM(hw, config, parameterFor, folder.config.raw);
  model.onDispose = () => folder.close();
  return model;
}

/**
 * A model whose weights come from host arrays (tests, synthetic benchmarks):
 * each Parameter uploads its array on first use and can be released and
 * re-uploaded like a checkpoint weight. `weights(name)` may generate values
 * on demand so a large synthetic model never sits whole in host memory.
 * `tensorOptions` sets per-weight upload options (tests force chunked
 * tensors with a small `maxChunkBytes`).
 */
export function causalLMFromHostWeights(
  hw: Hardware,
  config: LlamaConfig,
  weights: (spec: WeightSpec) => Float32Array,
  options: { rawConfig?: Readonly<Record<string, unknown>>; tensorOptions?: (spec: WeightSpec) => TensorOptions | undefined } = {},
): CausalLM {
  return new LlamaForCausalLM(hw, config, (spec) => Parameter.lazy({
    shape: spec.shape,
    dtype: 'f32',
    load: async () => {
      const data = weights(spec);
      const n = spec.shape.reduce((a, b) => a * b, 1);
      if (data.length !== n) throw new Error(`${spec.name}: ${data.length} values for shape [${spec.shape.join(', ')}]`);
      return Tensor.fromData(hw, data, spec.shape, 'f32', options.tensorOptions?.(spec));
    },
  }), options.rawConfig);
}
