/**
 * QuantizationMixin (llm-compressor `modifiers/quantization/quantization/mixin.py`):
 * the quantization fields shared by QuantizationModifier and GPTQModifier,
 * and their resolution into one `QuantizationConfig`. Presets become config
 * groups `group_0`, `group_1`, …; observer overrides are applied; whether
 * calibration data is needed follows from the result (§1.1).
 */
import { MODIFIER_FIELDS, Modifier } from '../modifier.js';
import { describeValue, field, isPlainObject, t, type FieldSpec, type FieldType, type FieldsOut, type ParseContext } from '../../recipe/schema.js';
import { didYouMean } from '../../recipe/suggest.js';
import { OBSERVER_NAME, QUANTIZATION_ARGS, QUANTIZATION_SCHEME, quantizationArgs, quantizationScheme, targetList, type QuantizationArgs, type QuantizationScheme } from './args.js';
import { PRESET_NAMES, isPresetScheme, presetNameToScheme } from './presets.js';

/** Module names the KV-cache scheme applies to (compressed-tensors `KV_CACHE_TARGETS`). */
export const KV_CACHE_TARGETS: readonly string[] = ['re:.*(self_attn|attention)$'];

const SCHEME_MESSAGE = '`scheme` must either be a preset scheme name or a dictionary of preset scheme names';

/** `scheme`: a preset name, or `{preset: targets}`. */
const schemeType: FieldType<string | Record<string, string[]>, string | Record<string, string[] | string>> = {
  label: 'preset scheme name, or mapping of preset name to targets',
  parse(v, ctx) {
    if (typeof v === 'string') {
      if (!isPresetScheme(v)) ctx.path.fail(`${SCHEME_MESSAGE}; ${JSON.stringify(v)} is not a preset${didYouMean(v, PRESET_NAMES)}`);
      return v;
    }
    if (!isPlainObject(v)) return ctx.path.fail(`${SCHEME_MESSAGE}, got ${describeValue(v)}`);
    const out: Record<string, string[]> = {};
    for (const [name, targets] of Object.entries(v)) {
      const c = { ...ctx, path: ctx.path.child(name) };
      if (!isPresetScheme(name)) c.path.fail(`${SCHEME_MESSAGE}; ${JSON.stringify(name)} is not a preset${didYouMean(name, PRESET_NAMES)}`);
      out[name] = targetList().parse(targets, c);
    }
    return out;
  },
  toPlain: (v) => (typeof v === 'string' ? v : structuredClone(v)),
};

const OBSERVER_KEYS = ['weights', 'input', 'output'] as const;

/** `observer`: `{weights|input|output: observer name}`. */
const observerMap = t.record(OBSERVER_NAME as FieldType<string | null>, {
  checkKey(key, ctx) {
    if (!(OBSERVER_KEYS as readonly string[]).includes(key)) ctx.path.fail(`Invalid observer key '${key}'. Valid keys are: ${OBSERVER_KEYS.join(', ')}${didYouMean(key, OBSERVER_KEYS)}`);
  },
});

/** The QuantizationMixin fields, in llm-compressor's order. */
export const QUANTIZATION_MIXIN_FIELDS = [
  field('config_groups', t.nullable(t.record(QUANTIZATION_SCHEME)), {
    default: null,
    doc: 'Explicit schemes by group name; each carries its own targets. Exclusive with `scheme`.',
  }),
  field('targets', targetList(), { default: ['Linear'], doc: 'Modules to quantize when `scheme` is used.' }),
  field('ignore', targetList(), { default: [], doc: 'Module names, class names or re: patterns never quantized.' }),
  field('scheme', t.nullable(schemeType), { default: null, doc: 'A preset name (W4A16, FP8_DYNAMIC, …) or {preset: targets}. Exclusive with `config_groups`.' }),
  field('kv_cache_scheme', t.nullable(QUANTIZATION_ARGS), { default: null, doc: 'Quantization of the key/value cache (needs calibration data).' }),
  field('weight_observer', OBSERVER_NAME, { default: null, doc: 'Overrides the weight observer of every scheme.' }),
  field('input_observer', OBSERVER_NAME, { default: null, doc: 'Overrides the input-activation observer of every scheme.' }),
  field('output_observer', OBSERVER_NAME, { default: null, doc: 'Overrides the output-activation observer of every scheme.' }),
  field('observer', t.nullable(observerMap), { default: null, doc: 'Observer overrides as {weights, input, output}; exclusive with the *_observer fields.' }),
  field('bypass_divisibility_checks', t.bool(), { default: false, doc: 'Skip the check that columns divide by group_size.' }),
] as const;

/** The resolved quantization of a modifier (compressed-tensors `QuantizationConfig`). */
export interface QuantizationConfig {
  readonly configGroups: Readonly<Record<string, QuantizationScheme>>;
  readonly kvCacheScheme: QuantizationArgs | null;
  readonly ignore: readonly string[];
  readonly quantizationStatus: 'initialized';
}

export interface QuantizationMixin extends FieldsOut<typeof QUANTIZATION_MIXIN_FIELDS> {}

/**
 * Base of the modifiers that quantize (QuantizationModifier, GPTQModifier).
 * A recipe's AWQModifier must be followed by one of these.
 */
export abstract class QuantizationMixin extends Modifier {
  static override readonly fields: readonly FieldSpec[] = [...QUANTIZATION_MIXIN_FIELDS, ...MODIFIER_FIELDS];

  protected override validate(ctx: ParseContext): void {
    super.validate(ctx);
    // Resolving at construction surfaces contradictions (scheme + config_groups,
    // GPTQ actorder conflicts) as recipe errors, as pydantic's validator does.
    this.resolveQuantizationConfig(ctx.warnings);
  }

  /** The quantization this modifier applies (recomputed on each access; cheap). */
  get resolvedConfig(): QuantizationConfig {
    return this.resolveQuantizationConfig();
  }

  /** Every target of every resolved group, plus the attention modules when the KV cache is quantized. */
  get resolvedTargets(): string[] {
    const cfg = this.resolvedConfig;
    const set = new Set<string>();
    for (const g of Object.values(cfg.configGroups)) for (const tgt of g.targets) set.add(tgt);
    if (cfg.kvCacheScheme) for (const tgt of KV_CACHE_TARGETS) set.add(tgt);
    return [...set];
  }

  /** Whether any quantization field differs from its default (`has_config`). */
  hasConfig(): boolean {
    return !(
      this.configGroups === null &&
      this.targets.length === 1 &&
      this.targets[0] === 'Linear' &&
      this.ignore.length === 0 &&
      this.scheme === null &&
      this.kvCacheScheme === null
    );
  }

  /**
   * Calibration data is needed for a KV-cache scheme, static input or output
   * activations, or the `imatrix_mse` weight observer (`_set_requires_calibration_data`).
   */
  override get requiresCalibrationData(): boolean {
    if (super.requiresCalibrationData) return true;
    const cfg = this.resolvedConfig;
    if (cfg.kvCacheScheme) return true;
    for (const s of Object.values(cfg.configGroups)) {
      if (s.weights?.observer === 'imatrix_mse') return true;
      if (s.inputActivations && (s.inputActivations.dynamic === false || s.inputActivations.dynamic === 'local')) return true;
      if (s.outputActivations && !s.outputActivations.dynamic) return true;
    }
    return false;
  }

  /** `resolve_quantization_config`: presets expanded, observer overrides applied. */
  resolveQuantizationConfig(warnings: string[] = []): QuantizationConfig {
    if (this.scheme !== null && this.configGroups !== null) this.recipePath.fail('Please specify either `scheme` or `config_groups`');
    let groups: Record<string, QuantizationScheme>;
    if (this.scheme !== null) {
      const byPreset = typeof this.scheme === 'string' ? { [this.scheme]: this.targets } : this.scheme;
      groups = {};
      Object.entries(byPreset).forEach(([preset, targets], i) => {
        groups[`group_${i}`] = this.applyObserverOverrides(presetNameToScheme(preset, targets), warnings);
      });
    } else if (this.configGroups === null || Object.keys(this.configGroups).length === 0) {
      groups = { group_0: this.applyObserverOverrides(quantizationScheme({ targets: [...this.targets] }), warnings) };
    } else {
      groups = {};
      for (const [name, s] of Object.entries(this.configGroups)) groups[name] = this.applyObserverOverrides(structuredClone(s), warnings);
    }
    return {
      configGroups: groups,
      kvCacheScheme: this.kvCacheScheme ? structuredClone(this.kvCacheScheme) : null,
      ignore: [...this.ignore],
      quantizationStatus: 'initialized',
    };
  }

  private applyObserverOverrides(scheme: QuantizationScheme, warnings: string[]): QuantizationScheme {
    const individual = this.weightObserver !== null || this.inputObserver !== null || this.outputObserver !== null;
    if (individual && this.observer !== null) {
      this.recipePath.fail(
        'Cannot specify both individual observer parameters (weight_observer, input_observer, output_observer) and observer dict. Please use either individual parameters or the observer dict.',
      );
    }
    const obs = {
      weights: this.observer?.weights ?? this.weightObserver,
      inputActivations: this.observer?.input ?? this.inputObserver,
      outputActivations: this.observer?.output ?? this.outputObserver,
    };
    const out = { ...scheme };
    for (const kind of ['weights', 'inputActivations', 'outputActivations'] as const) {
      const name = obs[kind];
      const args = out[kind];
      if (name === null || name === undefined || args === null) continue;
      out[kind] = quantizationArgs({ ...args, observer: name }, `${this.recipePath} (${kind})`, warnings);
    }
    return out;
  }
}
