/**
 * `QuantizationArgs` and `QuantizationScheme`: how one tensor (weights, input
 * or output activations, KV cache) is quantized, with compressed-tensors'
 * defaults and validator rules (`quant_args.py`, `quant_scheme.py`;
 * llm-compressor reference §2). Messages of the rules are compressed-tensors'.
 */
import { COMPRESSION_FORMATS, QUANTIZATION_STRATEGIES, type CompressionFormat, type QuantizationStrategy } from '../../io/compressed/args.js';
import { targetProblem } from '../../recipe/match.js';
import { FieldPath, describeValue, field, isPlainObject, t, type FieldType, type FieldsOut, type ParseContext } from '../../recipe/schema.js';
import { didYouMean } from '../../recipe/suggest.js';

export type QuantizationType = 'int' | 'float';
export { QUANTIZATION_STRATEGIES, COMPRESSION_FORMATS, type QuantizationStrategy, type CompressionFormat };
/** `true`: every parameter computed at run time; `'local'`: only the local (group) scales (NVFP4 activations). */
export type DynamicType = boolean | 'local';
/** GPTQ column order: `weight` (alias `static`) or `group` (alias `dynamic`, deprecated). */
export const ACTIVATION_ORDERINGS = ['group', 'weight', 'dynamic', 'static'] as const;
export type ActivationOrdering = (typeof ACTIVATION_ORDERINGS)[number];

/** `static` and `weight` are one ordering, as are `dynamic` and `group`. */
export function canonicalActorder(a: ActivationOrdering | null | undefined): 'group' | 'weight' | null {
  if (a === null || a === undefined) return null;
  return a === 'group' || a === 'dynamic' ? 'group' : 'weight';
}

/** Observer names llm-compressor registers (§1.3); `memoryless` is accepted from old configs. */
export const OBSERVERS = ['minmax', 'mse', 'static_minmax', 'memoryless_minmax', 'memoryless_mse', 'imatrix_mse', 'nvfp4_expanded_mse', 'memoryless'] as const;

/** torch dtype names a recipe may use for `scale_dtype` / `zp_dtype` (written with or without `torch.`). */
const TORCH_DTYPES = [
  'float32', 'float', 'float64', 'double', 'float16', 'half', 'bfloat16',
  'float8_e4m3fn', 'float8_e4m3fnuz', 'float8_e5m2', 'float8_e5m2fnuz', 'float8_e8m0fnu', 'float4_e2m1fn_x2',
  'int8', 'int16', 'short', 'int32', 'int', 'int64', 'long', 'uint8', 'uint16', 'uint32', 'uint64', 'bool',
] as const;

const torchDtype: FieldType<string> = {
  label: 'torch dtype name',
  parse(v, ctx) {
    if (typeof v !== 'string') return ctx.path.fail(`expected a torch dtype name, got ${describeValue(v)}`);
    const name = v.startsWith('torch.') ? v.slice('torch.'.length) : v;
    if (!(TORCH_DTYPES as readonly string[]).includes(name)) ctx.path.fail(`No such torch dtype \`torch.${name}\`${didYouMean(name, TORCH_DTYPES)}`);
    return name;
  },
  toPlain: (v) => v,
};

const observerName: FieldType<string> = {
  label: `observer name (${OBSERVERS.slice(0, -1).join(', ')})`,
  parse(v, ctx) {
    if (typeof v !== 'string') return ctx.path.fail(`expected an observer name, got ${describeValue(v)}`);
    const s = v.toLowerCase();
    if (!(OBSERVERS as readonly string[]).includes(s)) ctx.path.fail(`unknown observer ${JSON.stringify(v)}; known observers: ${OBSERVERS.slice(0, -1).join(', ')}${didYouMean(v, OBSERVERS)}`);
    return s;
  },
  toPlain: (v) => v,
};

/** An observer name or null (the type of the observer override fields). */
export const OBSERVER_NAME = t.nullable(observerName);

const dynamicType: FieldType<DynamicType> = {
  label: 'true, false or "local"',
  parse(v, ctx) {
    if (typeof v === 'string' && v.toLowerCase() === 'local') return 'local';
    try {
      return t.bool().parse(v, ctx);
    } catch {
      return ctx.path.fail(`expected true, false or "local", got ${describeValue(v)}`);
    }
  },
  toPlain: (v) => v,
};

const actorderType: FieldType<ActivationOrdering | null> = {
  label: `one of ${ACTIVATION_ORDERINGS.join(', ')}, a boolean, or null`,
  parse(v, ctx) {
    // compressed-tensors: True means GROUP, False means no ordering.
    if (typeof v === 'boolean') return v ? 'group' : null;
    if (v === null) return null;
    const a = t.enum(ACTIVATION_ORDERINGS, { caseInsensitive: true }).parse(v, ctx);
    if (canonicalActorder(a) === 'group') {
      ctx.warnings.push(`${ctx.path}: actorder='group' (and its alias 'dynamic') will be removed in a future release. Please use actorder='weight' instead for activation ordering during calibration.`);
    }
    return a;
  },
  toPlain: (v) => v,
};

const blockStructure: FieldType<[number, number]> = {
  label: '[rows, cols] of positive integers (or "RxC")',
  parse(v, ctx) {
    const bad = (): never => ctx.path.fail(`Invalid block_structure '${typeof v === 'string' ? v : JSON.stringify(v)}'. Must be a list of positive ints [rows, cols].`);
    let arr: unknown = v;
    if (typeof v === 'string') {
      const parts = v.split('x');
      if (!parts.every((p) => /^\s*[+-]?\d+\s*$/.test(p))) bad();
      arr = parts.map((p) => Number(p));
    }
    if (!Array.isArray(arr) || arr.length !== 2 || !arr.every((x) => typeof x === 'number' && Number.isInteger(x) && x > 0)) bad();
    return [(arr as number[])[0], (arr as number[])[1]];
  },
  toPlain: (v) => [...v],
};

const groupSize: FieldType<number> = {
  label: 'integer ≥ -1 (-1: per channel)',
  parse(v, ctx) {
    const n = t.int().parse(v, ctx);
    if (n < -1) ctx.path.fail(`Invalid group size ${n}. Use group_size > 0 for strategy='group' and group_size = -1 for 'channel'`);
    return n;
  },
  toPlain: (v) => v,
};

/** A list of recipe targets (names, class names, `re:` patterns); a lone string is one target. */
export function targetList(): FieldType<string[], string[] | string> {
  return t.list(t.string({ check: targetProblem, label: 'target (name, class name or re:pattern)' }), { wrapSingle: true });
}

export const QUANTIZATION_ARGS_FIELDS = [
  field('num_bits', t.int({ min: 1, max: 32 }), { default: 8, doc: 'Bits per quantized value.' }),
  field('type', t.enum(['int', 'float'] as const, { caseInsensitive: true }), { default: 'int', doc: 'Integer or floating-point codes (fp8 E4M3 / fp4 E2M1).' }),
  field('symmetric', t.bool(), { default: true, doc: 'Zero point fixed at 0.' }),
  field('group_size', t.nullable(groupSize), { default: null, doc: 'Columns per scale for group strategies; -1 means per channel.' }),
  field('strategy', t.nullable(t.enum(QUANTIZATION_STRATEGIES, { caseInsensitive: true })), {
    default: null,
    doc: 'Scope of one scale: tensor, channel, group, block, token, tensor_group, attn_head. Inferred from group_size when absent.',
  }),
  field('block_structure', t.nullable(blockStructure), { default: null, doc: 'Block shape [rows, cols] for the block strategy.' }),
  field('dynamic', dynamicType, { default: false, doc: 'Compute parameters at run time (true), only local ones ("local"), or calibrate them (false).' }),
  field('actorder', actorderType, { default: null, doc: 'GPTQ activation ordering: weight (alias static) or group (alias dynamic, deprecated); true means group.' }),
  field('scale_dtype', t.nullable(torchDtype), { default: null, doc: 'dtype of stored scales (float8_e4m3fn for NVFP4, uint8 E8M0 for MX).' }),
  field('zp_dtype', t.nullable(torchDtype), { default: null, doc: 'dtype of zero points; inferred from num_bits and type.' }),
  field('observer', OBSERVER_NAME, { default: null, doc: 'Range estimator; memoryless_minmax for static args, none for dynamic ones.' }),
  field('observer_kwargs', t.data('mapping of observer options'), { default: {}, doc: 'Options passed to the observer.' }),
] as const;

/** Resolved quantization arguments of one tensor kind (strategy, observer and zp dtype filled in). */
export type QuantizationArgs = FieldsOut<typeof QUANTIZATION_ARGS_FIELDS> & { strategy: QuantizationStrategy };

/** compressed-tensors' `QuantizationArgs.validate_model_after`. */
function validateArgs(a: FieldsOut<typeof QUANTIZATION_ARGS_FIELDS>, ctx: ParseContext): QuantizationArgs {
  const fail = (msg: string): never => ctx.path.fail(msg);
  if (!isPlainObject(a.observerKwargs)) ctx.path.child(ctx.keys === 'yaml' ? 'observer_kwargs' : 'observerKwargs').fail(`expected a mapping, got ${describeValue(a.observerKwargs)}`);
  let strategy = a.strategy;
  const gs = a.groupSize;
  if (strategy === null) {
    if (gs === null) strategy = 'tensor';
    else if (gs > 0) strategy = 'group';
    else if (gs === -1) strategy = 'channel';
    else fail(`Invalid group size ${gs}. Use group_size > 0 for strategy='group' and group_size = -1 for 'channel'`);
  }
  if (strategy === 'token' && !a.dynamic) fail('Cannot perform static token quantization, please use `dynamic=True`');
  if ((strategy === 'group' || strategy === 'tensor_group') && (gs === null || gs <= 0)) {
    fail(`strategy ${strategy} requires group_size to be set to a positive value`);
  }
  if (gs !== null && gs > 0 && strategy !== 'group' && strategy !== 'tensor_group') fail("group_size requires strategy to be set to 'group'");
  if (strategy === 'block' && a.blockStructure === null) fail('Block strategy requires block structure');
  if (a.blockStructure !== null && strategy !== 'block') fail('Block structure requires block strategy');
  if (canonicalActorder(a.actorder) === 'group' && strategy !== 'group' && strategy !== 'tensor_group') {
    fail('Must use group or tensor_group quantization strategy in order to apply group activation ordering');
  }
  // compressed-tensors has fp8 (E4M3) and fp4 (E2M1) only; other widths fail later there, here at once.
  if (a.type === 'float' && a.numBits !== 4 && a.numBits !== 8) fail(`float quantization supports num_bits 4 (fp4 E2M1) or 8 (fp8 E4M3), got ${a.numBits}`);
  let observer = a.observer;
  if (a.dynamic) {
    const supported = ['token', 'tensor', 'tensor_group', 'group'];
    if (!supported.includes(strategy!)) fail(`One of ${supported.join(', ')} must be used for dynamic quant.`);
    if (a.dynamic === 'local' && strategy !== 'tensor_group') fail('local is only supported for strategy tensor_group');
    if (observer !== null) {
      if (a.dynamic === true) {
        if (observer !== 'memoryless') ctx.warnings.push(`${ctx.path}: No observer is used for dynamic quant., setting to None`);
        observer = null;
      }
    } else if (a.dynamic === 'local') {
      observer = 'minmax';
    }
  } else if (observer === null) {
    observer = 'memoryless_minmax';
  }
  let zpDtype = a.zpDtype;
  if (zpDtype === null) {
    if (a.type === 'float') {
      zpDtype = 'float8_e4m3fn';
    } else {
      zpDtype = a.numBits <= 8 ? 'int8' : a.numBits <= 16 ? 'int16' : 'int32';
    }
  }
  return { ...a, strategy: strategy!, observer, zpDtype };
}

const argsObject = t.object('quantization arguments', QUANTIZATION_ARGS_FIELDS, { validate: validateArgs });

/**
 * The `QuantizationArgs` field type. Written back as compressed-tensors
 * serialises it: `zp_dtype` only for asymmetric args.
 */
export const QUANTIZATION_ARGS: FieldType<QuantizationArgs, Partial<QuantizationArgs>> = {
  label: argsObject.label,
  parse: (v, ctx) => argsObject.parse(v, ctx) as QuantizationArgs,
  toPlain(v) {
    const plain = argsObject.toPlain(v) as Record<string, unknown>;
    if (v.symmetric) delete plain.zp_dtype;
    return plain;
  },
};

/** Validates arguments written in TypeScript (camelCase), filling defaults and inferred values. */
export function quantizationArgs(options: Partial<QuantizationArgs>, path = 'QuantizationArgs', warnings: string[] = []): QuantizationArgs {
  return QUANTIZATION_ARGS.parse(options, { path: FieldPath.root(path), keys: 'ts', warnings });
}

const ACTIVATION_STRATEGIES: readonly QuantizationStrategy[] = ['token', 'tensor', 'group', 'tensor_group', 'attn_head'];

export const QUANTIZATION_SCHEME_FIELDS = [
  field('targets', targetList(), { required: true, doc: 'Modules this scheme applies to (names, class names, re: patterns).' }),
  field('weights', t.nullable(QUANTIZATION_ARGS), { default: null, doc: 'Weight quantization; null leaves weights unquantized.' }),
  field('input_activations', t.nullable(QUANTIZATION_ARGS), { default: null, doc: 'Input activation quantization.' }),
  field('output_activations', t.nullable(QUANTIZATION_ARGS), { default: null, doc: 'Output activation quantization.' }),
  field('format', t.nullable(t.enum(COMPRESSION_FORMATS)), { default: null, doc: 'Checkpoint format for these modules; inferred when null.' }),
] as const;

/** Which modules get which quantization (one entry of `config_groups`). */
export type QuantizationScheme = FieldsOut<typeof QUANTIZATION_SCHEME_FIELDS>;

/** compressed-tensors' `QuantizationScheme.validate_model_after`. */
function validateScheme(s: QuantizationScheme, ctx: ParseContext): QuantizationScheme {
  const sub = (name: string, camel: string) => ctx.path.child(ctx.keys === 'yaml' ? name : camel);
  const inputs = s.inputActivations;
  if (inputs) {
    if (!ACTIVATION_STRATEGIES.includes(inputs.strategy)) {
      sub('input_activations', 'inputActivations').fail(`Using ${inputs.strategy} strategy is not supported for activation quantization`);
    }
    if (inputs.actorder !== null) sub('input_activations', 'inputActivations').fail('Cannot apply actorder to input activations');
  }
  if (s.outputActivations && s.outputActivations.actorder !== null) {
    sub('output_activations', 'outputActivations').fail('Cannot apply actorder to output activations');
  }
  if (s.format === 'mixed-precision') sub('format', 'format').fail('mixed-precision cannot be set as a format for a QuantizationScheme');
  const w = s.weights;
  if (inputs && w && w.strategy === 'group' && inputs.strategy === 'group' && w.groupSize !== inputs.groupSize) {
    ctx.warnings.push(
      `${ctx.path}: Using GROUP strategy for both weights and input_activations with different group sizes (${w.groupSize} vs ${inputs.groupSize}) may complicate fused kernel implementations. Consider using TENSOR_GROUP strategy for both or matching group sizes.`,
    );
  }
  return s;
}

/** The `QuantizationScheme` field type (one config group). */
export const QUANTIZATION_SCHEME = t.object('a quantization scheme', QUANTIZATION_SCHEME_FIELDS, { validate: validateScheme });

/** Validates a scheme written in TypeScript (camelCase). */
export function quantizationScheme(options: { targets: string[] | string; weights?: Partial<QuantizationArgs> | null; inputActivations?: Partial<QuantizationArgs> | null; outputActivations?: Partial<QuantizationArgs> | null; format?: CompressionFormat | null }, path = 'QuantizationScheme'): QuantizationScheme {
  return QUANTIZATION_SCHEME.parse(options, { path: FieldPath.root(path), keys: 'ts', warnings: [] });
}

/** Every argument in recipe form, nothing dropped (for displaying what a scheme resolves to). */
export function quantizationArgsToDisplay(a: QuantizationArgs): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of QUANTIZATION_ARGS_FIELDS) {
    const v = (a as Record<string, unknown>)[f.key];
    out[f.name] = v === null || v === undefined ? null : (f.type as FieldType<unknown>).toPlain(v);
  }
  return out;
}

/** A scheme in recipe form with fully resolved arguments. */
export function quantizationSchemeToDisplay(s: QuantizationScheme): Record<string, unknown> {
  return {
    targets: [...s.targets],
    weights: s.weights ? quantizationArgsToDisplay(s.weights) : null,
    input_activations: s.inputActivations ? quantizationArgsToDisplay(s.inputActivations) : null,
    output_activations: s.outputActivations ? quantizationArgsToDisplay(s.outputActivations) : null,
    format: s.format,
  };
}
