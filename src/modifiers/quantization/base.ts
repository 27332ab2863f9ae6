/**
 * QuantizationModifier: round-to-nearest PTQ of Linear weights
 * (llm-compressor `modifiers/quantization/quantization/base.py`), on the GPU.
 *
 * Lifecycle: `onInitialize` resolves the config groups (QuantizationMixin),
 * matches every targeted Linear of `state.model` (lm_head only when a target
 * names it) and checks each weight's shape against its scheme, so a bad
 * recipe fails before any work; a KV-cache scheme is refused for now.
 * Static activation schemes (FP8, static W8A8, NVFP4's global input scale)
 * observe their modules' inputs (and outputs) with forward hooks during the
 * calibration passes (./activations.ts). Each `SEQUENTIAL_EPOCH_END`
 * quantizes the subgraph's weights and writes their activation qparams
 * (`onCalibrationEnd` catches any left over): the module's `weight` becomes
 * the fake-quantized weight (what compressed-tensors' frozen QDQ forward
 * computes with), and the compressed data is written beside it as
 * parameters `weight_codes` (one code per element: int8, FP8 byte or FP4
 * code), `weight_scale`, `weight_zero_point` (asymmetric) and
 * `weight_global_scale` (NVFP4), plus `input_scale` etc. for static
 * activations; the module's input quantization is set for the forward. The
 * save step (src/quantization/save.ts) packs them into a compressed-tensors
 * checkpoint.
 */
import type { Module } from '../../core/model.js';
import { requireHardware, requireModel, type State } from '../../core/state.js';
import type { Event, Subgraph } from '../../core/events.js';
import type { Hardware } from '../../gpu/hardware.js';
import { Tensor } from '../../gpu/tensor.js';
import { castToF32 } from '../../gpu/kernels/elementwise.js';
import { isMatch, matchName } from '../../recipe/match.js';
import { quantizationSchemeToJson, type QuantizationScheme as KernelScheme } from '../../quantization/args.js';
import { checkLinear } from '../../quantization/compress.js';
import type { WeightFormat } from '../../quantization/format.js';
import type { ComputeDtype } from '../../quantization/numerics.js';
import { planQuantization, quantizeWeightGpu, readQuantizedWeight, QuantizationError } from '../../quantization/quantizeWeight.js';
import type { InitializeOptions } from '../modifier.js';
import { toKernelConfig, type KernelQuantizationConfig } from './convert.js';
import { QuantizationMixin } from './mixin.js';
import { ActivationCalibration, checkActivationScheme, modelDtype } from './activations.js';
import { fusedSet, observeFusedStats } from './fused.js';

/** A targeted Linear and how it is quantized. */
export interface PlannedModule {
  readonly module: Module;
  readonly group: string;
  readonly scheme: KernelScheme;
  readonly format: WeightFormat;
  readonly shape: readonly [number, number];
}

/** What the save step needs about one quantized module. */
export interface QuantizedModuleRecord extends PlannedModule {
  /** ‖W − Q(W)‖ / ‖W‖. */
  readonly relativeError: number;
}

/** Parameter names this modifier writes next to `weight`. */
export const QUANTIZED_PARAMETERS = ['weight_codes', 'weight_scale', 'weight_zero_point', 'weight_global_scale'] as const;

/** Quantizes the modules matched by its config groups (no fields of its own). */
export class QuantizationModifier extends QuantizationMixin {
  private planned = new Map<string, PlannedModule>();
  private done = new Map<string, QuantizedModuleRecord>();
  private kernelConfig: KernelQuantizationConfig | undefined;
  private dtype: ComputeDtype = 'f32';
  private activations: ActivationCalibration | undefined;
  private fusedCache = new Map<string, { stats: GPUBuffer; remaining: number }>();

  override onInitialize(state: State, _options: InitializeOptions): boolean {
    if (!this.hasConfig()) throw new Error(`${this.recipePath}: QuantizationModifier requires that quantization fields be specified`);
    const model = requireModel(state, this.type);
    requireHardware(state, this.type);
    const cfg = toKernelConfig(this.resolvedConfig, this.recipePath.toString());
    if (this.resolvedConfig.kvCacheScheme) {
      throw new Error(`${this.recipePath}.kv_cache_scheme: KV-cache quantization observes keys and values on calibration data, which is not implemented yet`);
    }
    for (const [name, s] of Object.entries(cfg.groups)) {
      const where = `${this.recipePath}.config_groups.${name}`;
      if (s.weights?.observer === 'imatrix_mse') throw new Error(`${where}: the weight observer "imatrix_mse" (importance-weighted by activation statistics) is not implemented yet`);
      checkActivationScheme(s, where);
    }
    this.kernelConfig = cfg;
    this.dtype = modelDtype(model.config);
    this.planned.clear();
    this.done.clear();
    for (const m of model.root.modules()) {
      const weight = m.getParameter('weight');
      if (!weight || weight.shape.length !== 2) continue;
      let group: string | undefined;
      let byName = false;
      for (const [name, s] of Object.entries(cfg.groups)) {
        if (!s.weights || !isMatch(m, s.targets, cfg.ignore)) continue;
        group = name;
        byName = s.targets.some((t) => matchName(m.name, t));
        break;
      }
      if (!group) continue;
      // lm_head stays dense unless a target names it (vLLM keeps it unquantized, compressed-tensors.md §5.1).
      if (m.localName === 'lm_head' && !byName) continue;
      const scheme = cfg.groups[group];
      const shape: [number, number] = [weight.shape[0], weight.shape[1]];
      let format: WeightFormat;
      try {
        format = checkLinear(scheme, m.name);
        planQuantization(scheme.weights!, shape[0], shape[1], { name: `${m.name}.weight`, dtype: this.dtype });
      } catch (e) {
        throw new Error(`${this.recipePath}: ${(e as Error).message}`);
      }
      this.planned.set(m.name, { module: m, group, scheme, format, shape });
    }
    if (this.planned.size === 0) this.warnings.push(`${this.recipePath}: no Linear module matches the targets; nothing will be quantized`);
    return true;
  }

  /** Modules this modifier quantizes, in module order. */
  get plannedModules(): readonly PlannedModule[] {
    return [...this.planned.values()];
  }

  /** Modules quantized so far, with their error. */
  get quantizedModules(): readonly QuantizedModuleRecord[] {
    return [...this.done.values()];
  }

  /** The resolved groups and ignore list in kernel form (after initialization). */
  get kernelQuantization(): KernelQuantizationConfig {
    if (!this.kernelConfig) throw new Error(`${this.type}: not initialized`);
    return this.kernelConfig;
  }

  /** `config_groups` as compressed-tensors writes them (each with its format), for the used groups. */
  configGroupsJson(): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    for (const [name, s] of Object.entries(this.kernelQuantization.groups)) {
      const used = [...this.done.values()].find((d) => d.group === name);
      if (used) out[name] = { ...quantizationSchemeToJson(s), format: used.format };
    }
    return out;
  }

  /** Registers the activation observers of static schemes (hooks run during the calibration passes only). */
  override onCalibrationStart(state: State, _event: Event): void {
    const hw = requireHardware(state, this.type);
    this.activations?.dispose();
    const act = new ActivationCalibration(hw, this.dtype);
    this.activations = act;
    for (const p of this.planned.values()) {
      const hook = act.hookFor(p.module, p.scheme);
      if (hook) this.registerHook(p.module, 'forward', hook);
    }
  }

  override async onSequentialEpochEnd(state: State, subgraph: Subgraph, _event: Event): Promise<void> {
    const hw = requireHardware(state, this.type);
    for (const m of subgraph.modules) {
      const p = this.planned.get(m.name);
      if (p && !this.done.has(m.name)) await this.quantizeModule(hw, p);
    }
  }

  override async onCalibrationEnd(state: State, _event: Event): Promise<void> {
    const hw = requireHardware(state, this.type);
    for (const p of this.planned.values()) if (!this.done.has(p.module.name)) await this.quantizeModule(hw, p);
    this.removeHooks();
  }

  override onFinalize(_state: State): boolean {
    this.removeHooks();
    this.activations?.dispose();
    this.activations = undefined;
    const left = [...this.planned.keys()].filter((n) => !this.done.has(n));
    if (left.length) throw new Error(`${this.recipePath}: ${left.length} targeted module(s) were never quantized (${left.slice(0, 3).join(', ')}${left.length > 3 ? ', …' : ''}); the pipeline sent no event covering them`);
    return true;
  }

  private async weightF32(hw: Hardware, m: Module): Promise<Tensor> {
    const t = await m.getParameter('weight')!.get();
    return t.dtype === 'f32' ? t : castToF32(hw, t);
  }

  /**
   * NVFP4: min/max keys of the fused set a module belongs to (q/k/v,
   * gate/up), or undefined. Observed once, on the original weights, when the
   * first member is quantized (later members would otherwise see the earlier
   * ones' Q(W)), and shared until the last member is done.
   */
  private async fusedStats(hw: Hardware, p: PlannedModule): Promise<{ stats: GPUBuffer; release: () => void } | undefined> {
    if (p.scheme.weights?.strategy !== 'tensor_group') return undefined;
    const fused = fusedSet(p.module, (m) => this.planned.has(m.name));
    if (!fused) return undefined;
    const { key, members } = fused;
    let shared = this.fusedCache.get(key);
    if (!shared) {
      shared = { stats: await this.observeFused(hw, members), remaining: members.length };
      this.fusedCache.set(key, shared);
    }
    const entry = shared;
    return {
      stats: entry.stats,
      release: () => {
        if (--entry.remaining > 0) return;
        hw.pool.releaseAfterSubmit(entry.stats);
        this.fusedCache.delete(key);
      },
    };
  }

  private async observeFused(hw: Hardware, members: readonly Module[]): Promise<GPUBuffer> {
    for (const m of members) {
      if (this.planned.get(m.name)!.scheme.weights?.strategy !== 'tensor_group') throw new QuantizationError(`${members.map((x) => x.name).join(', ')}: fused layers must all use tensor_group quantization`);
    }
    return observeFusedStats(hw, members, async (m) => {
      const weight = await this.weightF32(hw, m);
      return { weight, owned: weight !== (await m.getParameter('weight')!.get()) };
    });
  }

  private async quantizeModule(hw: Hardware, p: PlannedModule): Promise<void> {
    const m = p.module;
    const args = p.scheme.weights!;
    const weight = await this.weightF32(hw, m);
    const orig = await m.getParameter('weight')!.get();
    const fused = await this.fusedStats(hw, p);
    const q = quantizeWeightGpu(hw, weight, args, { name: `${m.name}.weight`, dtype: this.dtype, layout: 'codes', fake: true, globalStats: fused?.stats });
    try {
      const host = await readQuantizedWeight(q, { fake: false });
      const [o, i] = p.shape;
      const codes = new Uint8Array(o * i);
      const bytes = new Uint8Array(host.packed.buffer, host.packed.byteOffset, host.packed.byteLength);
      for (let r = 0; r < o; r++) codes.set(bytes.subarray(r * host.rowWords * 4, r * host.rowWords * 4 + i), r * i);
      m.setParameter('weight_codes', Tensor.fromData(hw, codes, [o, i], 'u8'));
      m.setParameter('weight_scale', Tensor.fromData(hw, host.scales, [...host.geometry.scaleShape], 'f32'));
      if (host.zeroPoints) m.setParameter('weight_zero_point', Tensor.fromData(hw, host.zeroPoints, [...host.geometry.scaleShape], 'i32'));
      if (host.globalScale !== null) m.setParameter('weight_global_scale', Tensor.fromData(hw, Float32Array.of(host.globalScale), [1], 'f32'));
      // The weight itself becomes Q(W): later modifiers and evaluation see the quantized model.
      m.getParameter('weight')!.set(q.takeFake());
      this.activations ??= new ActivationCalibration(hw, this.dtype);
      await this.activations.apply(m, p.scheme);
      this.done.set(m.name, { ...p, relativeError: Math.sqrt(host.errorSquared / Math.max(host.normSquared, Number.MIN_VALUE)) });
    } finally {
      q.dispose();
      if (weight !== orig) weight.dispose();
      fused?.release();
    }
  }
}
