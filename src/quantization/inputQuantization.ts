/**
 * Input (activation) quantization of a Linear in the forward: compressed-
 * tensors' `input_activations` (compressed-tensors.md §2.2, §4), applied as
 * a serving runtime would before the matmul, so perplexity reflects the
 * scheme's activation quantization too (W8A8, FP8, NVFP4…).
 *
 * Which modules quantize their input is recorded here (set by the quantizing
 * modifiers and the checkpoint loader). Static values are ordinary module
 * parameters with compressed-tensors' names: `input_scale` ([1] f32, static
 * tensor), `input_zero_point` ([1] i32, asymmetric), `input_global_scale`
 * ([1] f32, NVFP4 tensor_group); dynamic schemes have none.
 */
import type { Module } from '../core/model.js';
import type { Hardware } from '../gpu/hardware.js';
import { Tensor } from '../gpu/tensor.js';
import type { BufferSlice } from '../gpu/kernel.js';
import type { QuantizationArgs } from './args.js';
import { isMxArgs } from './format.js';
import { fakeQuantUniforms } from './fakeQuantUniforms.js';
import {
  QP_LENGTH, QP_WORDS, dispatchFakeQuantize, dispatchObserveTensor, type ActQuantMode, type ActQuantNumerics, type ActQuantOverrides,
} from './kernels/actquant.js';

/** How a Linear's input is quantized in the forward (compressed-tensors `input_activations`). */
export interface InputQuantization {
  readonly args: QuantizationArgs;
}

/** Static values of an input quantization, as GPU tensors of shape [1]. */
export interface InputQuantizationParams {
  /** `input_scale` (f32): static `tensor` strategy. */
  readonly scale?: Tensor;
  /** `input_zero_point` (i32): static asymmetric `tensor` strategy. */
  readonly zeroPoint?: Tensor;
  /** `input_global_scale` (f32): `tensor_group` (NVFP4, dynamic "local"). */
  readonly globalScale?: Tensor;
}

/** Parameter names of the static values on a module. */
export const INPUT_PARAMETER_NAMES = { scale: 'input_scale', zeroPoint: 'input_zero_point', globalScale: 'input_global_scale' } as const;

const registry = new WeakMap<Module, InputQuantization>();

/**
 * Checks that the forward can apply `args` to activations: token (dynamic),
 * tensor (static or dynamic), group (dynamic) or tensor_group (dynamic
 * "local"), int up to 8 bits or FP8/FP4. Returns why not, or null.
 */
export function unsupportedInputQuantization(args: QuantizationArgs): string | null {
  const { strategy, dynamic } = args;
  if (args.type === 'int' && args.numBits > 8) return `int input quantization supports up to 8 bits, not ${args.numBits}`;
  if (strategy === 'token' && dynamic !== true) return 'strategy "token" must be dynamic';
  if (strategy === 'group' && dynamic !== true) return 'strategy "group" is supported for dynamic input quantization only';
  if (strategy === 'tensor_group' && dynamic !== 'local') return 'strategy "tensor_group" is supported with dynamic "local" (NVFP4: a static global scale, dynamic local scales)';
  if (strategy === 'tensor' && dynamic === 'local') return 'dynamic "local" needs strategy "tensor_group"';
  if (!['token', 'tensor', 'group', 'tensor_group'].includes(strategy)) return `strategy "${strategy}" is not supported for input activations (token, tensor, group, tensor_group)`;
  return null;
}

/**
 * Records (or with `undefined`, clears) how `module`'s input is quantized in
 * the forward. Any args are accepted (a checkpoint may only be saved); the
 * forward rejects those it cannot apply ({@link unsupportedInputQuantization}).
 */
export function setInputQuantization(module: Module, q: InputQuantization | undefined): void {
  if (q) registry.set(module, q);
  else registry.delete(module);
}

/** How `module`'s input is quantized in the forward, if at all. */
export function inputQuantizationOf(module: Module): InputQuantization | undefined {
  return registry.get(module);
}

/**
 * The static values `q` needs from `module`'s parameters (loaded if lazy).
 * A missing one is an error naming the module and parameter.
 */
export async function inputQuantizationParamsOf(module: Module, q: InputQuantization): Promise<InputQuantizationParams> {
  const need = async (local: string): Promise<Tensor> => {
    const p = module.getParameter(local);
    if (!p) throw new Error(`${module.name}.${local}: missing; the input quantization (${describeArgs(q.args)}) needs it`);
    return p.get();
  };
  const { strategy, dynamic, symmetric } = q.args;
  if (strategy === 'tensor' && dynamic === false) {
    return { scale: await need(INPUT_PARAMETER_NAMES.scale), zeroPoint: symmetric ? undefined : await need(INPUT_PARAMETER_NAMES.zeroPoint) };
  }
  if (strategy === 'tensor_group') return { globalScale: await need(INPUT_PARAMETER_NAMES.globalScale) };
  return {};
}

function describeArgs(a: QuantizationArgs): string {
  const dyn = a.dynamic === true ? 'dynamic' : a.dynamic === 'local' ? 'dynamic local' : 'static';
  return `${a.numBits}-bit ${a.type} ${a.symmetric ? 'symmetric' : 'asymmetric'} ${a.strategy}${a.groupSize && a.groupSize > 0 ? ` ${a.groupSize}` : ''}, ${dyn}`;
}

/** Options of {@link fakeQuantizeInput}. */
export interface FakeQuantizeInputOptions {
  /** Names the tensor in errors (the module). */
  readonly name?: string;
  /** Test hook: perturb the hardware quotient so the exact fallback is exercised. */
  readonly simulateInexactDivision?: boolean;
  /** Writes into this f32 tensor (shape and row chunks of `x`) instead of a new one. */
  readonly out?: Tensor;
}

function checkScalar(t: Tensor | undefined, dtype: 'f32' | 'i32', what: string, where: string): Tensor {
  if (!t) throw new Error(`${where}: ${what} is required by this input quantization`);
  if (t.dtype !== dtype || t.numel !== 1) throw new Error(`${where}: ${what} must be one ${dtype} value, got ${t.dtype} [${t.shape.join(', ')}]`);
  return t;
}

/**
 * compressed-tensors' fake quantization of a Linear's input `x` [tokens,
 * features] (f32): qparams per token, per group of `group_size` along each
 * row, per tensor (dynamic: from the whole tensor's min/max; static: the
 * given scale and zero point) or per 16 with a static global scale (NVFP4),
 * then quantize-dequantize of every element, bit-exact with the float64
 * reference (src/quantization/reference.ts). Returns a new f32 tensor (or
 * `options.out`); the caller disposes it. A chunked input is processed chunk
 * by chunk (one dispatch each; dynamic tensor adds one observe dispatch each).
 */
export function fakeQuantizeInput(hw: Hardware, x: Tensor, q: InputQuantization, params: InputQuantizationParams, options: FakeQuantizeInputOptions = {}): Tensor {
  const where = options.name ?? 'input activations';
  const args = q.args;
  const why = unsupportedInputQuantization(args);
  if (why) throw new Error(`${where}: ${why}`);
  if (x.dtype !== 'f32' || x.shape.length !== 2) throw new Error(`${where}: expected an f32 [tokens, features] input, got ${x.dtype} [${x.shape.join(', ')}]`);
  const [rows, cols] = x.shape;
  let groupLen: number;
  if (args.strategy === 'group' || args.strategy === 'tensor_group') {
    groupLen = args.groupSize as number;
    // compressed-tensors unflattens the last dimension into groups, which needs a whole number of them.
    if (cols % groupLen !== 0) throw new Error(`${where}: ${cols} input features are not a multiple of the input group_size ${groupLen}`);
  } else {
    groupLen = cols;
  }
  const staticTensor = args.strategy === 'tensor' && args.dynamic === false;
  const scaleKind = args.strategy === 'tensor_group' ? 1 : isMxArgs(args) ? 2 : 0;
  const fp8Scale = args.scaleDtype === 'float8_e4m3fn';
  const numerics: ActQuantNumerics = fakeQuantUniforms(args, 'f32', 'f32');
  const overrides: ActQuantOverrides = {
    QTYPE: args.type === 'int' ? 0 : args.numBits === 8 ? 1 : 2,
    SYMMETRIC: args.symmetric,
    SCALE_KIND: scaleKind,
    FP8_SCALE: fp8Scale,
    DIV_JITTER: !!options.simulateInexactDivision,
  };

  const rowBytes = cols * 4;
  const y = options.out ?? Tensor.empty(hw, x.shape, 'f32', x.isChunked ? { maxChunkBytes: x.chunks[0].rows * rowBytes } : {});
  if (y.dtype !== 'f32' || y.shape.join() !== x.shape.join() || y.chunks.length !== x.chunks.length || y.chunks.some((c, i) => c.rows !== x.chunks[i].rows)) {
    if (!options.out) y.dispose();
    throw new Error(`${where}: the output must be f32 [${rows}, ${cols}] split into the same row chunks as the input`);
  }
  if (rows === 0 || cols === 0) return y;

  const qp = Tensor.empty(hw, [QP_LENGTH], 'u32');
  hw.batcher.clear(qp.buffer, 0, QP_LENGTH * 4);
  const copyWord = (t: Tensor, word: number): void => hw.batcher.copy(t.buffer, 0, qp.buffer, word * 4, 4);
  if (staticTensor) {
    copyWord(checkScalar(params.scale, 'f32', 'input_scale', where), QP_WORDS.scale);
    if (!args.symmetric) copyWord(checkScalar(params.zeroPoint, 'i32', 'input_zero_point', where), QP_WORDS.zeroPoint);
  }
  if (scaleKind === 1) copyWord(checkScalar(params.globalScale, 'f32', 'input_global_scale', where), QP_WORDS.globalScale);

  const vec4 = groupLen % 4 === 0;
  const unit = vec4 ? 4 : 1;
  const slice = (c: { buffer: GPUBuffer; byteLength: number }): BufferSlice => ({ buffer: c.buffer, size: c.byteLength });
  let mode: ActQuantMode = 'observe';
  if (staticTensor) mode = 'static';
  else if (args.strategy === 'tensor') {
    mode = 'tensorStats';
    for (const c of x.chunks) dispatchObserveTensor(hw, numerics, overrides, { x: slice(c), stats: { buffer: qp.buffer } }, { vec4, units: (c.rows * cols) / unit });
  }
  x.chunks.forEach((c, i) => {
    // Without a per-group reduction (static, tensorStats) a row is the unit of work.
    const nGroups = (c.rows * cols) / groupLen;
    dispatchFakeQuantize(hw, mode, numerics, overrides, { x: slice(c), y: slice(y.chunks[i]), qp: { buffer: qp.buffer } }, { vec4, groupUnits: groupLen / unit, nGroups });
  });
  qp.dispose();
  return y;
}
