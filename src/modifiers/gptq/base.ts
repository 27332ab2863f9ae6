/**
 * GPTQModifier (llm-compressor `modifiers/gptq/base.py`, reference §6.1):
 * forward hooks accumulate each targeted Linear's Hessian 2·XᵀX on the GPU;
 * at SEQUENTIAL_EPOCH_END every calibrated module of the subgraph is
 * quantized with GPTQ (src/compression/gptq.ts): scales observed on the
 * original weight (the quantization module's observer), activation order,
 * dampening, the upper Cholesky factor of H⁻¹, the lazy-batch loop. The
 * module then holds the fake-quantized `weight` and its `weight_scale`,
 * `weight_zero_point` (asymmetric), `weight_global_scale` (NVFP4) and
 * `weight_g_idx` (actorder group), which the checkpoint writer packs without
 * re-observing. Static activation schemes (FP8, static W8A8, NVFP4) observe
 * the modules' inputs in the same calibration passes and get `input_scale`
 * etc. once their weight is quantized (../quantization/activations.ts). The
 * per-module loss goes to the loggers.
 */
import type { Subgraph, Event } from '../../core/events.js';
import type { HookCall, Module } from '../../core/model.js';
import { requireHardware, requireModel, type State } from '../../core/state.js';
import type { Hardware } from '../../gpu/hardware.js';
import { Tensor } from '../../gpu/tensor.js';
import { field, t, type FieldSpec, type FieldsOut } from '../../recipe/schema.js';
import { isMatch } from '../../recipe/match.js';
import { MODIFIER_FIELDS, type InitializeOptions } from '../modifier.js';
import { ACTIVATION_ORDERINGS, canonicalActorder, type ActivationOrdering, type QuantizationScheme } from '../quantization/args.js';
import { QUANTIZATION_MIXIN_FIELDS, QuantizationMixin, type QuantizationConfig } from '../quantization/mixin.js';
import { InputStatistics, hookInput, tiedWeightError, tiedWith, weightF32 } from '../../compression/calibration.js';
import { gptqQuantizeLayer, readGptqOutcome, type ObservedQParams } from '../../compression/gptq.js';
import { weightQuantization, type WeightQuantization } from './weightArgs.js';
import { quantizeWeightGpu, type GpuQuantizedWeight } from '../../quantization/quantizeWeight.js';
import { isPruned } from '../../compression/sparsityMarks.js';
import { groupGeometry } from '../../quantization/layout.js';
import { quantizationSchemeToJson, type QuantizationScheme as KernelScheme } from '../../quantization/args.js';
import { inferWeightFormat } from '../../quantization/format.js';
import { toKernelScheme } from '../quantization/convert.js';
import { ActivationCalibration, checkActivationScheme, modelDtype } from '../quantization/activations.js';
import { fusedSet, observeFusedStats } from '../quantization/fused.js';
import type { ComputeDtype } from '../../quantization/numerics.js';

export const GPTQ_FIELDS = [
  field('block_size', t.int({ min: 1 }), { default: 128, doc: 'Columns processed per lazy-batch block.' }),
  field('dampening_frac', t.nullable(t.float({ min: 0 })), { default: 0.01, doc: 'Added to the Hessian diagonal, as a fraction of mean(diag(H)).' }),
  field('actorder', t.nullable(t.enum(ACTIVATION_ORDERINGS, { caseInsensitive: true })), {
    defaultLabel: 'static (weight) when the scheme sets no actorder',
    doc: 'Column order: weight/static (default) or group/dynamic (deprecated); null for none. Must agree with the scheme’s weights.actorder.',
  }),
  field('offload_hessians', t.bool(), { default: false, doc: 'Keep Hessians in host memory between uses.' }),
] as const;

/** Weight strategies GPTQ applies its activation ordering to. */
const ORDERED_STRATEGIES = ['group', 'tensor_group', 'channel', 'tensor', 'block'];

export interface GPTQModifier extends FieldsOut<typeof GPTQ_FIELDS> {}

/** The scheme (and its config group) a module is quantized with. */
interface Assignment {
  readonly group: string;
  readonly scheme: QuantizationScheme;
  /** The scheme in kernel form (activation calibration, save). */
  readonly kernelScheme: KernelScheme;
  readonly quant: WeightQuantization;
}

/** A module GPTQ has quantized, as the save step needs it. */
export interface GptqCompressedModule {
  readonly module: Module;
  readonly group: string;
  readonly scheme: KernelScheme;
  readonly quant: WeightQuantization;
  readonly shape: readonly [number, number];
}

export class GPTQModifier extends QuantizationMixin {
  static override readonly fields: readonly FieldSpec[] = [...GPTQ_FIELDS, ...QUANTIZATION_MIXIN_FIELDS, ...MODIFIER_FIELDS];
  static override readonly requiresCalibrationData: boolean = true;

  private assignments = new Map<Module, Assignment>();
  private stats: InputStatistics | undefined;
  private activations: ActivationCalibration | undefined;
  private compressed = new Map<Module, GptqCompressedModule>();
  private dtype: ComputeDtype = 'f32';

  /** The mixin's config with the modifier-level `actorder` applied to every ordered weight scheme. */
  override resolveQuantizationConfig(warnings: string[] = []): QuantizationConfig {
    const config = super.resolveQuantizationConfig(warnings);
    const groups: Record<string, QuantizationScheme> = {};
    for (const [name, scheme] of Object.entries(config.configGroups)) {
      const w = scheme.weights;
      if (!w || !ORDERED_STRATEGIES.includes(w.strategy)) {
        groups[name] = scheme;
        continue;
      }
      let actorder = this.resolveActorder(w.actorder);
      if (canonicalActorder(actorder) === 'group') {
        warnings.push(`${this.recipePath}: ActivationOrdering.GROUP is deprecated and will be removed in a future release. Use default actorder='static' instead.`);
        if (w.strategy !== 'group' && w.strategy !== 'tensor_group') {
          warnings.push(`${this.recipePath}: ActivationOrdering.GROUP is not compatible with strategy=${w.strategy}; falling back to actorder=None for this scheme.`);
          actorder = null;
        }
      }
      groups[name] = { ...scheme, weights: { ...w, actorder } };
    }
    return { ...config, configGroups: groups };
  }

  private resolveActorder(existing: ActivationOrdering | null): ActivationOrdering | null {
    // The default (absent) only fills in for schemes that say nothing.
    if (this.actorder === undefined) return existing ?? 'static';
    if (existing === null || canonicalActorder(this.actorder) === canonicalActorder(existing)) return this.actorder;
    return this.fieldPath('actorder').fail(
      `Cannot resolve activation ordering when both \`GPTQModifier.actorder\` and \`QuantizationScheme.actorder\` are provided and differ (${this.actorder}, ${existing}). Either unset \`GPTQModifier.actorder\` or remove \`actorder\` from config groups.`,
    );
  }

  /** Modules this modifier quantizes, with their config group, after `initialize`. */
  get quantizedModules(): ReadonlyMap<Module, { group: string; scheme: QuantizationScheme }> {
    return this.assignments;
  }

  /** Modules quantized so far, in the order they were compressed. */
  get compressedModules(): readonly GptqCompressedModule[] {
    return [...this.compressed.values()];
  }

  /**
   * `config_groups` as compressed-tensors writes them (each with its format)
   * for the groups that quantized a module. A `weight` (static) activation
   * order is kept only for strategy group: it changed the calibration alone,
   * stores nothing, and compressed-tensors 0.11–0.12 reject an actorder on
   * any other strategy (the nvfp4 format stores no column order either).
   */
  configGroupsJson(): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    for (const c of this.compressed.values()) {
      if (out[c.group]) continue;
      let scheme = c.scheme;
      const w = scheme.weights;
      if (w?.actorder === 'weight' && w.strategy !== 'group') scheme = { ...scheme, weights: { ...w, actorder: null } };
      out[c.group] = { ...quantizationSchemeToJson(scheme), format: inferWeightFormat(scheme) };
    }
    return out;
  }

  override onInitialize(state: State, _options: InitializeOptions): boolean {
    const model = requireModel(state, this.type);
    requireHardware(state, this.type);
    const cfg = this.resolveQuantizationConfig();
    if (cfg.kvCacheScheme) throw new Error(`${this.recipePath}: kv_cache_scheme is not supported by GPTQModifier here yet; quantize the KV cache with QuantizationModifier`);
    this.assignments.clear();
    this.compressed.clear();
    this.dtype = modelDtype(model.config);
    const kernelSchemes = new Map<string, KernelScheme>();
    for (const [name, scheme] of Object.entries(cfg.configGroups)) {
      const where = `${this.recipePath}.config_groups.${name}`;
      const k = toKernelScheme(scheme, where);
      checkActivationScheme(k, where);
      kernelSchemes.set(name, k);
    }
    const groups = Object.entries(cfg.configGroups);
    for (const m of model.root.modules()) {
      if (m.isA('Embedding') || !m.getParameter('weight')) continue;
      // compressed-tensors gives a module the scheme of the first group that targets it.
      const hit = groups.find(([, s]) => isMatch(m, s.targets, cfg.ignore));
      if (!hit || !hit[1].weights) continue;
      const [group, scheme] = hit;
      const tied = tiedWith(model, m);
      if (tied.length) throw tiedWeightError(this.type, m, tied);
      this.assignments.set(m, { group, scheme, kernelScheme: kernelSchemes.get(group)!, quant: weightQuantization(scheme.weights, `${this.recipePath} config group ${group}`) });
    }
    if (this.assignments.size === 0) {
      throw new Error('GPTQModifier was unable to find any modules to quantize. Please check quantization `config_groups` and `targets` in recipe');
    }
    // Shapes the scheme cannot split into groups fail now, all at once, not one per run after calibration.
    const misfits: string[] = [];
    for (const [m, a] of this.assignments) {
      const shape = m.getParameter('weight')!.shape;
      try {
        groupGeometry(a.quant.args, shape[0], shape[1], `${m.name}.weight`);
      } catch (e) {
        misfits.push((e as Error).message);
      }
    }
    if (misfits.length) throw new Error(`${this.recipePath}: ${misfits.length} targeted module(s) cannot be quantized with their scheme:\n  ${misfits.join('\n  ')}`);
    return true;
  }

  override onCalibrationStart(state: State, _event: Event): void {
    const hw = requireHardware(state, this.type);
    this.stats?.dispose();
    const stats = new InputStatistics(hw, 'hessianSum', this.offloadHessians);
    this.stats = stats;
    this.activations?.dispose();
    const act = new ActivationCalibration(hw, this.dtype);
    this.activations = act;
    for (const [m, a] of this.assignments) {
      this.registerHook(m, 'forward', (call: HookCall) => stats.accumulate(call.module, hookInput(call)));
      // Static input scales are observed in the same pass, before the weight is quantized.
      const observe = act.hookFor(m, a.kernelScheme);
      if (observe) this.registerHook(m, 'forward', observe);
    }
  }

  override async onSequentialEpochEnd(state: State, subgraph: Subgraph, _event: Event): Promise<void> {
    const stats = this.stats;
    if (!stats) return;
    const todo = subgraph.modules.filter((m) => stats.has(m));
    const hw = requireHardware(state, this.type);
    // NVFP4: fused q/k/v and gate/up share one global scale, observed on the original weights before any member changes.
    const fused = new Map<Module, GPUBuffer>();
    const byKey = new Map<string, GPUBuffer>();
    for (const m of todo) {
      if (this.assignments.get(m)!.quant.args.strategy !== 'tensor_group') continue;
      const set = fusedSet(m, (x) => this.assignments.get(x)?.quant.args.strategy === 'tensor_group');
      if (!set) continue;
      let buf = byKey.get(set.key);
      if (!buf) {
        buf = await observeFusedStats(hw, set.members, async (x) => {
          const w = await weightF32(hw, x);
          return { weight: w.weight, owned: w.owned };
        });
        byKey.set(set.key, buf);
      }
      fused.set(m, buf);
    }
    try {
      for (const m of todo) await this.compress(state, m, stats, fused.get(m));
    } finally {
      for (const b of byKey.values()) hw.pool.releaseAfterSubmit(b);
    }
  }

  override onCalibrationEnd(_state: State, _event: Event): void {
    this.removeHooks();
  }

  override onFinalize(_state: State): boolean {
    this.removeHooks();
    const left = this.stats?.size ?? 0;
    this.stats?.dispose();
    this.stats = undefined;
    this.activations?.dispose();
    this.activations = undefined;
    if (left > 0) throw new Error(`${this.type}: Failed to compress ${left} modules`);
    return true;
  }

  private async compress(state: State, module: Module, stats: InputStatistics, globalStats?: GPUBuffer): Promise<void> {
    const hw = requireHardware(state, this.type);
    const a = this.assignments.get(module)!;
    await state.loggers.timed({ modifier: this.type, layer: module.name, hardware: hw }, async () => {
      const h = stats.take(module);
      state.loggers.info(`Quantizing ${module.name} using ${h.samples} samples`, { modifier: this.type, layer: module.name });
      const { weight, dtype, owned } = await weightF32(hw, module);
      let observed: GpuQuantizedWeight | undefined;
      const observe = (w: Tensor): ObservedQParams => {
        observed?.dispose();
        observed = quantizeWeightGpu(hw, w, a.quant.args, { dtype, name: `${module.name}.weight`, globalStats });
        return observedParams(observed);
      };
      const actorder = canonicalActorder(a.scheme.weights!.actorder);
      const r = await gptqQuantizeLayer(hw, weight, h.tensor, h.samples, {
        blockSize: this.blockSize,
        dampFrac: this.dampeningFrac ?? 0,
        actorder,
        format: a.quant.format,
        layout: a.quant.layout,
        scaleDtype: dtype,
        preserveZeros: isPruned(module),
        observe,
      });
      const { loss, failed } = await readGptqOutcome(r);
      if (failed) {
        state.loggers.warning(
          'Failed to invert hessian due to numerical instability. Consider increasing GPTQModifier.dampening_frac, increasing the number of calibration samples, or shuffling the calibration dataset. Falling back to round-to-nearest for this module.',
          { modifier: this.type, layer: module.name },
        );
      }
      if (owned) weight.dispose();
      writeQuantizedParameters(hw, module, r.weight, observed!, r.gIdx);
      observed!.dispose();
      r.losses.dispose();
      r.status.dispose();
      this.activations ??= new ActivationCalibration(hw, this.dtype);
      await this.activations.apply(module, a.kernelScheme);
      const [rows, cols] = module.getParameter('weight')!.shape;
      this.compressed.set(module, { module, group: a.group, scheme: a.kernelScheme, quant: a.quant, shape: [rows, cols] });
      return { error: loss, extra: { samples: h.samples, rtnFallback: failed ? 1 : 0 } };
    });
  }
}

/** The observer's qparam buffers as GPTQ reads them (slices of its qp buffer). */
function observedParams(q: GpuQuantizedWeight): ObservedQParams {
  const n = q.geometry.nGroupRows * q.geometry.nGroupCols;
  return {
    scale: { buffer: q.qp.buffer, offset: 0, size: n * 4 },
    zeroPoint: q.args.symmetric ? null : { buffer: q.qp.buffer, offset: q.zpOffset * 4, size: n * 4 },
    globalScale: q.args.strategy === 'tensor_group' ? { buffer: q.qp.buffer, offset: q.gsOffset * 4, size: 4 } : null,
  };
}

/** Copies `bytes` from a slice of `src` into a new tensor. */
function copyOut(hw: Hardware, src: GPUBuffer, offset: number, shape: number[], dtype: 'f32' | 'i32'): Tensor {
  const t = Tensor.empty(hw, shape, dtype);
  const bytes = shape.reduce((a, b) => a * b, 1) * 4;
  hw.batcher.copy(src, offset, t.buffer, 0, Math.ceil(bytes / 4) * 4);
  return t;
}

/**
 * Replaces the module's weight with Q(W) and adds the quantization
 * parameters compressed-tensors saves (llm-compressor's update_offload_parameter).
 */
function writeQuantizedParameters(hw: Hardware, module: Module, weight: Tensor, q: GpuQuantizedWeight, gIdx: Tensor | undefined): void {
  const g = q.geometry;
  module.getParameter('weight')!.set(weight);
  module.setParameter('weight_scale', copyOut(hw, q.qp.buffer, 0, [...g.scaleShape], 'f32'));
  if (!q.args.symmetric) module.setParameter('weight_zero_point', copyOut(hw, q.qp.buffer, q.zpOffset * 4, [...g.scaleShape], 'i32'));
  if (q.args.strategy === 'tensor_group') module.setParameter('weight_global_scale', copyOut(hw, q.qp.buffer, q.gsOffset * 4, [1], 'f32'));
  if (gIdx) {
    const idx = Tensor.empty(hw, [g.cols], 'i32');
    hw.batcher.copy(gIdx.buffer, 0, idx.buffer, 0, g.cols * 4);
    gIdx.dispose();
    module.setParameter('weight_g_idx', idx);
  }
}
