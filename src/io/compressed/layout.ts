import type { SafetensorsDType } from '../safetensors/dtype.js';
import type { LayerFormat, QuantizationArgs, QuantizationScheme } from './args.js';
import { packedWords } from './pack.js';

/** dtypes a scale can be stored in: the model's dtype (compressed-tensors.md §3.0). */
export type ScaleDType = 'F32' | 'F16' | 'BF16';

/** What a tensor of a compressed layer holds; the writer's input has one field per role. */
export type LayerRole =
  | 'weight' | 'weightScale' | 'weightZeroPoint' | 'weightGIdx' | 'weightShape' | 'weightGlobalScale'
  | 'inputScale' | 'inputZeroPoint' | 'inputGlobalScale' | 'outputScale' | 'outputZeroPoint';

/** One tensor a compressed layer must have: `<module>.<key>`, its dtype and shape. */
export interface LayerTensorSpec {
  readonly key: string;
  readonly role: LayerRole;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
}

/** Number of scale groups along the input dimension for group / tensor_group args. */
export function groupCount(args: QuantizationArgs, inFeatures: number): number {
  return Math.ceil(inFeatures / (args.group_size as number));
}

/**
 * Shape of `weight_scale` (and of an unpacked zero point) for `[O, I]`
 * (§3.0): tensor `[1]`, channel `[O, 1]`, group / tensor_group
 * `[O, ceil(I/gs)]`, block `[ceil(O/bh), ceil(I/bw)]`.
 */
export function weightScaleShape(args: QuantizationArgs, [o, i]: readonly [number, number]): number[] {
  switch (args.strategy) {
    case 'tensor':
      return [1];
    case 'channel':
      return [o, 1];
    case 'group':
    case 'tensor_group':
      return [o, groupCount(args, i)];
    case 'block': {
      const [bh, bw] = args.block_structure as [number, number];
      return [Math.ceil(o / bh), Math.ceil(i / bw)];
    }
    default:
      throw new RangeError(`weights cannot use strategy "${args.strategy}"`);
  }
}

function checkGroups(args: QuantizationArgs, i: number): void {
  if (args.strategy !== 'group' && args.strategy !== 'tensor_group') return;
  const gs = args.group_size as number;
  // CT raises when I >= group_size and I % group_size != 0 (§3.0, §4.4).
  if (i >= gs && i % gs !== 0) throw new RangeError(`input size ${i} is not a multiple of group_size ${gs}`);
}

function activationSpecs(side: 'input' | 'output', args: QuantizationArgs | null, scaleDtype: ScaleDType): LayerTensorSpec[] {
  if (!args || args.dynamic === true) return []; // dynamic activations write nothing (§3.2)
  if (args.dynamic === 'local') {
    if (side !== 'input' || args.strategy !== 'tensor_group') throw new RangeError(`${side} activations with dynamic "local" must be input tensor_group (NVFP4)`);
    return [{ key: 'input_global_scale', role: 'inputGlobalScale', dtype: 'F32', shape: [1] }];
  }
  if (args.strategy !== 'tensor') throw new RangeError(`static ${side} activations are written only for strategy "tensor", not "${args.strategy}"`);
  const out: LayerTensorSpec[] = [{ key: `${side}_scale`, role: side === 'input' ? 'inputScale' : 'outputScale', dtype: scaleDtype, shape: [1] }];
  if (!args.symmetric) out.push({ key: `${side}_zero_point`, role: side === 'input' ? 'inputZeroPoint' : 'outputZeroPoint', dtype: 'I8', shape: [1] });
  return out;
}

/**
 * The exact tensors compressed-tensors writes for one Linear `[O, I]` under
 * `scheme` in `format` (§3.1–§3.3) — no more, since vLLM rejects extra keys:
 *
 * - `pack-quantized`: `weight_packed` I32 `[O, ceil(I·b/32)]`, `weight_scale`,
 *   `weight_shape` I64 `[2]`; asymmetric adds `weight_zero_point` (I32
 *   `[ceil(O·b/32), groups]` packed down the output dim for channel/group,
 *   I8 `[1]` for tensor); actorder group adds `weight_g_idx` I32 `[I]`.
 * - `int-quantized` / `float-quantized` / `naive-quantized`: `weight` I8 or
 *   F8_E4M3 `[O, I]`, `weight_scale`; asymmetric adds `weight_zero_point` I8
 *   shaped like the scale; actorder group adds `weight_g_idx`.
 * - `nvfp4-pack-quantized`: `weight_packed` U8 `[O, I/2]`, `weight_scale`
 *   F8_E4M3 `[O, I/gs]`, `weight_global_scale` F32 `[1]`.
 * - static input/output activations add `input_scale` (+ `input_zero_point`
 *   I8 when asymmetric) `[1]`; NVFP4 input activations (`dynamic: "local"`)
 *   add `input_global_scale` F32 `[1]`; dynamic ones add nothing.
 *
 * An unsupported combination is a RangeError saying why.
 */
export function compressedLayerLayout(format: LayerFormat, scheme: QuantizationScheme, shape: readonly [number, number], scaleDtype: ScaleDType): LayerTensorSpec[] {
  const w = scheme.weights;
  if (!w) throw new RangeError('the scheme has no weight quantization');
  if (w.dynamic !== false) throw new RangeError('weights cannot be quantized dynamically');
  const [o, i] = shape;
  if (!Number.isSafeInteger(o) || !Number.isSafeInteger(i) || o <= 0 || i <= 0) throw new RangeError(`weight shape [${o}, ${i}] is not a positive 2-D shape`);
  checkGroups(w, i);
  const specs: LayerTensorSpec[] = [];
  const scale = (dtype: SafetensorsDType): LayerTensorSpec => ({ key: 'weight_scale', role: 'weightScale', dtype, shape: weightScaleShape(w, shape) });
  const gIdx = (): void => {
    if (w.actorder === 'group') specs.push({ key: 'weight_g_idx', role: 'weightGIdx', dtype: 'I32', shape: [i] });
  };
  switch (format) {
    case 'pack-quantized': {
      if (w.type !== 'int' || w.num_bits < 1 || w.num_bits > 8) throw new RangeError(`pack-quantized stores int weights of 1–8 bits, not ${w.type}${w.num_bits}`);
      if (!['tensor', 'channel', 'group'].includes(w.strategy)) throw new RangeError(`pack-quantized supports tensor, channel and group strategies, not "${w.strategy}"`);
      specs.push({ key: 'weight_packed', role: 'weight', dtype: 'I32', shape: [o, packedWords(i, w.num_bits)] });
      specs.push(scale(scaleDtype));
      specs.push({ key: 'weight_shape', role: 'weightShape', dtype: 'I64', shape: [2] });
      if (!w.symmetric) {
        specs.push(
          w.strategy === 'tensor'
            ? { key: 'weight_zero_point', role: 'weightZeroPoint', dtype: 'I8', shape: [1] }
            : { key: 'weight_zero_point', role: 'weightZeroPoint', dtype: 'I32', shape: [packedWords(o, w.num_bits), weightScaleShape(w, shape)[1]] },
        );
      }
      gIdx();
      break;
    }
    case 'int-quantized':
    case 'float-quantized':
    case 'naive-quantized': {
      let dtype: SafetensorsDType;
      if (w.type === 'int' && w.num_bits <= 8) dtype = 'I8';
      else if (w.type === 'float' && w.num_bits === 8) dtype = 'F8_E4M3';
      else throw new RangeError(`${format} stores int weights of up to 8 bits or FP8 weights, not ${w.type}${w.num_bits}`);
      if (w.strategy === 'tensor_group') throw new RangeError(`${format} does not support strategy "tensor_group"`);
      specs.push({ key: 'weight', role: 'weight', dtype, shape: [o, i] });
      specs.push(scale(scaleDtype));
      if (!w.symmetric) specs.push({ key: 'weight_zero_point', role: 'weightZeroPoint', dtype: 'I8', shape: weightScaleShape(w, shape) });
      gIdx();
      break;
    }
    case 'nvfp4-pack-quantized': {
      if (w.type !== 'float' || w.num_bits !== 4) throw new RangeError(`nvfp4-pack-quantized stores FP4 weights, not ${w.type}${w.num_bits}`);
      if (w.strategy !== 'tensor_group' && w.strategy !== 'group') throw new RangeError(`nvfp4-pack-quantized needs strategy "tensor_group", not "${w.strategy}"`);
      if (i % 2 !== 0) throw new RangeError(`nvfp4-pack-quantized needs an even input size, got ${i}`);
      if (w.actorder !== null) throw new RangeError('nvfp4-pack-quantized does not support actorder');
      specs.push({ key: 'weight_packed', role: 'weight', dtype: 'U8', shape: [o, i / 2] });
      specs.push(scale('F8_E4M3'));
      specs.push({ key: 'weight_global_scale', role: 'weightGlobalScale', dtype: 'F32', shape: [1] });
      break;
    }
    default:
      throw new RangeError(`format "${String(format)}" is not written by this project`);
  }
  specs.push(...activationSpecs('input', scheme.input_activations, scaleDtype));
  specs.push(...activationSpecs('output', scheme.output_activations, scaleDtype));
  return specs;
}
