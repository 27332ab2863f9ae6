/**
 * Activation quantization for the quantizing modifiers (QuantizationModifier,
 * GPTQModifier), as llm-compressor's QuantizationMixin calibrates it
 * (`calibrate_input_hook` / `calibrate_output_hook`): forward hooks observe a
 * targeted Linear's input (and output) during the calibration passes; once
 * the module is compressed, the observed ranges become compressed-tensors'
 * parameters `input_scale` ([1] f32), `input_zero_point` ([1] i32,
 * asymmetric), `input_global_scale` ([1] f32, NVFP4) and likewise
 * `output_scale` / `output_zero_point`, and the module's input quantization
 * is set so the forward applies it (src/quantization/inputQuantization.ts).
 * Dynamic input schemes get their input quantization set with no parameters.
 */
import type { HookCall, HookFn, Module } from '../../core/model.js';
import type { Hardware } from '../../gpu/hardware.js';
import { Tensor } from '../../gpu/tensor.js';
import type { QuantizationArgs, QuantizationScheme } from '../../quantization/args.js';
import {
  ActivationStatistics, activationObserverSpec, activationQParams, type ActivationObserverSpec,
} from '../../quantization/activationObserver.js';
import { setInputQuantization } from '../../quantization/inputQuantization.js';
import type { ComputeDtype } from '../../quantization/numerics.js';

/** Parameter names calibrated activations add to a module. */
export const ACTIVATION_PARAMETERS = ['input_scale', 'input_zero_point', 'input_global_scale', 'output_scale', 'output_zero_point'] as const;

/** The model's dtype from config.json (`torch_dtype`): what torch would compute qparams in. */
export function modelDtype(config: Readonly<Record<string, unknown>> | undefined): ComputeDtype {
  const d = String(config?.torch_dtype ?? config?.dtype ?? 'float32');
  return d === 'bfloat16' ? 'bf16' : d === 'float16' || d === 'half' ? 'f16' : 'f32';
}

type Side = 'input' | 'output';

/** Whether args are calibrated from data: static, or NVFP4's "local" (calibrated global scale). */
export function isCalibratedActivation(a: QuantizationArgs | null): a is QuantizationArgs {
  return !!a && (a.dynamic === false || a.dynamic === 'local');
}

/**
 * Checks that the activation quantization of `scheme` is one this engine
 * calibrates and compressed-tensors can store; errors name `where` (the
 * config group): static inputs per tensor or NVFP4 "local", static outputs
 * per tensor, with a min-max observer.
 */
export function checkActivationScheme(scheme: QuantizationScheme, where: string): void {
  const input = scheme.inputActivations;
  if (isCalibratedActivation(input)) {
    if (input.dynamic === false && input.strategy !== 'tensor') {
      throw new Error(`${where}.input_activations: static activation scales are calibrated per tensor only; strategy "${input.strategy}" needs dynamic: true`);
    }
    activationObserverSpec(input, `${where}.input_activations`);
  }
  const output = scheme.outputActivations;
  if (output && output.dynamic === 'local') throw new Error(`${where}.output_activations: dynamic "local" is only for NVFP4 input activations`);
  if (isCalibratedActivation(output)) {
    if (output.strategy !== 'tensor') throw new Error(`${where}.output_activations: static activation scales are calibrated per tensor only, not with strategy "${output.strategy}"`);
    activationObserverSpec(output, `${where}.output_activations`);
  }
}

interface Plan {
  readonly scheme: QuantizationScheme;
  readonly input?: ActivationObserverSpec;
  readonly output?: ActivationObserverSpec;
}

/** Observes and then writes the activation qparams of a modifier's modules. */
export class ActivationCalibration {
  private readonly stats: ActivationStatistics<string>;
  private readonly plans = new Map<Module, Plan>();

  /** `dtype`: the model dtype the qparams are computed in. */
  constructor(private readonly hw: Hardware, private readonly dtype: ComputeDtype) {
    this.stats = new ActivationStatistics(hw);
  }

  /**
   * The forward hook that observes `module` under `scheme`, or undefined when
   * nothing of it is calibrated from data.
   */
  hookFor(module: Module, scheme: QuantizationScheme): HookFn | undefined {
    const input = isCalibratedActivation(scheme.inputActivations) ? activationObserverSpec(scheme.inputActivations, `${module.name} input_activations`) : undefined;
    const output = isCalibratedActivation(scheme.outputActivations) ? activationObserverSpec(scheme.outputActivations, `${module.name} output_activations`) : undefined;
    this.plans.set(module, { scheme, input, output });
    if (!input && !output) return undefined;
    return (call: HookCall) => this.observe(call);
  }

  private observe(call: HookCall): void {
    const plan = this.plans.get(call.module);
    if (!plan) return;
    if (plan.input) {
      const x = call.inputs[0];
      if (!x) throw new Error(`${call.module.name}: the forward hook received no input`);
      this.stats.observe(key(call.module, 'input'), x, plan.input, `${call.module.name} input`);
    }
    if (plan.output) {
      if (!call.output) throw new Error(`${call.module.name}: the forward hook received no output`);
      this.stats.observe(key(call.module, 'output'), call.output, plan.output, `${call.module.name} output`);
    }
  }

  /** Calibration batches seen by `module`'s input (tests, logs). */
  samples(module: Module, side: Side = 'input'): number {
    return this.stats.samples(key(module, side));
  }

  /**
   * Writes `module`'s calibrated activation parameters (read from the GPU
   * once) and sets its input quantization. Call once its weight is quantized.
   */
  async apply(module: Module, scheme: QuantizationScheme): Promise<void> {
    for (const side of ['input', 'output'] as const) {
      const args = side === 'input' ? scheme.inputActivations : scheme.outputActivations;
      if (!isCalibratedActivation(args)) continue;
      const k = key(module, side);
      const where = `${module.name} ${side}_activations`;
      const range = await this.stats.range(k);
      if (!range) {
        throw new Error(
          `${where}: no calibration ${side}s were observed; static activation scales are calibrated from data — run oneshot with a dataset ` +
            '(the sequential or basic pipeline) and make sure the module runs in the forward',
        );
      }
      const q = activationQParams(args, range, this.dtype, where);
      if (q.scale !== null) module.setParameter(`${side}_scale`, Tensor.fromData(this.hw, Float32Array.of(q.scale), [1], 'f32'));
      if (q.zeroPoint !== null) module.setParameter(`${side}_zero_point`, Tensor.fromData(this.hw, Int32Array.of(q.zeroPoint), [1], 'i32'));
      if (q.globalScale !== null) module.setParameter('input_global_scale', Tensor.fromData(this.hw, Float32Array.of(q.globalScale), [1], 'f32'));
      this.stats.delete(k);
    }
    if (scheme.inputActivations) setInputQuantization(module, { args: scheme.inputActivations });
  }

  dispose(): void {
    this.stats.dispose();
    this.plans.clear();
  }
}

function key(module: Module, side: Side): string {
  return `${module.name}\u0000${side}`;
}
