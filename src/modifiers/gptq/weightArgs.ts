/**
 * From a recipe's weight `QuantizationArgs` (src/modifiers/quantization/args.ts)
 * to what the GPTQ kernels and the quantization module's observer take.
 */
import type { QuantizationArgs as RecipeArgs } from '../quantization/args.js';
import { makeQuantizationArgs, type QuantizationArgs } from '../../quantization/args.js';
import type { QuantFormat, ScaleLayout } from '../../compression/reference/quantize.js';

export interface WeightQuantization {
  /** The quantization module's validated args (its observer and packing use them). */
  args: QuantizationArgs;
  format: QuantFormat;
  layout: ScaleLayout;
}

/** Converts recipe weight args; `where` names the config group in errors. */
export function weightQuantization(w: RecipeArgs | null, where: string): WeightQuantization {
  if (!w) throw new Error(`${where}: no weight quantization`);
  const args = makeQuantizationArgs(
    {
      numBits: w.numBits,
      type: w.type,
      symmetric: w.symmetric,
      groupSize: w.groupSize,
      strategy: w.strategy,
      blockStructure: w.blockStructure,
      dynamic: w.dynamic,
      actorder: w.actorder,
      observer: w.observer,
      observerKwargs: w.observerKwargs as Record<string, number | string | boolean>,
      scaleDtype: w.scaleDtype,
    },
    `${where}.weights`,
  );
  if (args.dynamic !== false) throw new Error(`${where}.weights: GPTQ quantizes static weights; dynamic weight quantization is not possible`);
  if (args.type === 'float' && args.numBits !== 8 && args.numBits !== 4) throw new Error(`${where}.weights: float weights must be 4 or 8 bits`);
  if (args.type === 'int' && args.numBits > 8) throw new Error(`${where}.weights: int weights of ${args.numBits} bits are not supported (1–8)`);
  const format: QuantFormat = args.type === 'int' ? { type: 'int', numBits: args.numBits } : { type: 'float', numBits: args.numBits as 8 | 4 };
  let layout: ScaleLayout;
  switch (args.strategy) {
    case 'tensor':
    case 'channel':
      layout = { strategy: args.strategy };
      break;
    case 'group':
    case 'tensor_group':
      layout = { strategy: args.strategy, groupSize: args.groupSize! };
      break;
    case 'block':
      layout = { strategy: 'block', groupSize: args.blockStructure![1], blockRows: args.blockStructure![0] };
      break;
    default:
      throw new Error(`${where}.weights: Quantization strategy is not supported for GPTQ: ${args.strategy}`);
  }
  return { args, format, layout };
}
