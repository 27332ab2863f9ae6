/**
 * AWQModifier (llm-compressor `modifiers/transform/awq/base.py`, reference
 * §6.5): activation-aware channel scaling. A transform only: a recipe must
 * follow it with a quantizing modifier (checked by the recipe), whose weight
 * scheme the grid search imitates.
 *
 * Lifecycle:
 *   onInitialize        mappings inferred from the architecture when none are
 *                       given; offload_device decided (cpu for MoE models);
 *   onCalibrationStart  mappings resolved (one smooth layer per decoder layer,
 *                       incompatible v→o pairs and unquantized mappings
 *                       skipped), then hooks: the parent module's inputs are
 *                       cached (forward_pre) and Σ|x| per channel of the
 *                       balance layers' input accumulates on the GPU;
 *   SEQUENTIAL_EPOCH_END for each mapping with statistics: the parent's fp
 *                       outputs, the grid search (./search.ts), then the best
 *                       scales applied — balance W = W_orig · s, smooth
 *                       weight (and bias) / s;
 *   onCalibrationEnd    every statistic must have been used; hooks removed.
 * Unlike llm-compressor's, every reduction here runs in a fixed order, so the
 * chosen scales are the same on every run.
 */
import type { Event, Subgraph } from '../../core/events.js';
import type { HookCall, Module, Model } from '../../core/model.js';
import { requireHardware, requireModel, type State } from '../../core/state.js';
import type { Hardware } from '../../gpu/hardware.js';
import type { Tensor } from '../../gpu/tensor.js';
import { isCausalLM, type CausalLM, type ModuleKwargs } from '../../models/causalLM.js';
import { targetProblem } from '../../recipe/match.js';
import { describeValue, field, t, type FieldSpec, type FieldType, type FieldsOut, type ParseContext } from '../../recipe/schema.js';
import { MODIFIER_FIELDS, Modifier, type InitializeOptions } from '../modifier.js';
import { targetList } from '../quantization/args.js';
import { QuantizationMixin } from '../quantization/mixin.js';
import { columnStatistic, scaleColumns, scaleRows } from '../smoothquant/kernels.js';
import { cloneTensor, commitParameter, parameterF32 } from '../smoothquant/weights.js';
import { ParentInputCache } from './cache.js';
import { awqGridPoints, type GridPoint, type ScaleStatistics } from './grid.js';
import { SquaredErrorSum } from './kernels.js';
import { awqMappingsFor, resolveAWQMappings, type ResolutionNotes, type ResolvedAWQMapping } from './mappings.js';
import { modelComputeDtype, searchWeightSchemes, type SearchWeightScheme } from './schemes.js';
import { awqGridSearch, type GridSearchResult, type SearchLayer } from './search.js';

const target = t.string({ check: targetProblem, label: 'target (name or re:pattern)' });

/** One smoothing mapping: the layer whose output is scaled, and the layers that consume it. */
export const AWQ_MAPPING = t.object('an AWQ mapping', [
  field('smooth_layer', target, { required: true, doc: 'Module whose output activations are smoothed (usually a norm or v_proj/up_proj).' }),
  field('balance_layers', targetList(), { required: true, doc: 'Modules reading that output, whose weights absorb the scales.' }),
  field('activation_hook_target', t.nullable(t.string()), { default: null, doc: 'Submodule of the balance layers’ common parent to hook instead of balance_layers[0].' }),
] as const);
export type AWQMapping = ReturnType<typeof AWQ_MAPPING.parse>;

const duoScaling: FieldType<boolean | 'both'> = {
  label: 'true, false or "both"',
  parse(v, ctx) {
    if (v === 'both') return 'both';
    try {
      return t.bool().parse(v, ctx);
    } catch {
      return ctx.path.fail(`expected true, false or "both", got ${describeValue(v)}`);
    }
  },
  toPlain: (v) => v,
};

export const AWQ_FIELDS = [
  field('mappings', t.nullable(t.list(AWQ_MAPPING)), { default: null, doc: 'Smoothing mappings; inferred from the architecture when null.' }),
  field('offload_device', t.nullable(t.string()), {
    defaultLabel: 'cpu for MoE models, else none (decided at initialize)',
    doc: 'Where cached parent-module inputs are kept between uses.',
  }),
  field('duo_scaling', duoScaling, { default: true, doc: 'Scale from activations and weights (true), activations only (false), or search both halves ("both").' }),
  field('n_grid', t.int({ min: 1 }), { default: 20, doc: 'Grid points of the per-mapping scale search.' }),
] as const;

export interface AWQModifier extends FieldsOut<typeof AWQ_FIELDS> {}

/** Why an old AWQ recipe's quantization fields are rejected (AWQ stopped quantizing in llm-compressor PR #2526). */
const MOVED = 'AWQModifier no longer quantizes; put scheme, config_groups, targets and ignore in a QuantizationModifier or GPTQModifier after it';

/** Devices that mean "keep the cached inputs where the model runs" (there is one GPU here). */
const ON_DEVICE = /^(cuda|gpu|xpu|mps|webgpu)(:\d+)?$/;

/** Bytes of the widest activation one parent forward may hold (as the perplexity evaluation does). */
const BATCH_ACTIVATION_BYTES = 64 * 1024 * 1024;

/** What the search found for one mapping (llm-compressor's per-layer error metrics, plus the grid). */
export interface AWQMappingResult {
  readonly smoothName: string;
  readonly parentName: string;
  readonly grid: readonly GridPoint[];
  /** Mean squared error of the parent's output per grid point. */
  readonly losses: readonly number[];
  readonly bestIndex: number;
  readonly bestRatio: number;
  readonly bestDuo: boolean;
  /** Loss of the first grid point (identity scaling with the default grid). */
  readonly initialError: number;
  readonly bestError: number;
  /** bestError / initialError (1 when the initial error is 0). */
  readonly reduction: number;
  /** The activation and weight statistics the candidate scales came from (per channel, as accumulated on the GPU). */
  readonly statistics: ScaleStatistics;
  /** The scales applied (f32 values). */
  readonly scales: Float32Array;
}

/** Σ|x| per channel of a mapping's activation, on the GPU, and the tokens behind it. */
interface ActivationSums {
  readonly buffer: GPUBuffer;
  readonly cols: number;
  tokens: number;
}

function isMoE(model: Model): boolean {
  for (const m of model.root.modules()) if (m.localName === 'experts' || m.classNames.some((c) => /SparseMoe|MoeBlock/.test(c))) return true;
  return false;
}

export class AWQModifier extends Modifier {
  static override readonly fields: readonly FieldSpec[] = [...AWQ_FIELDS, ...MODIFIER_FIELDS];
  static override readonly requiresCalibrationData: boolean = true;
  static readonly removedFields: Readonly<Record<string, string>> = {
    scheme: MOVED,
    config_groups: MOVED,
    targets: MOVED,
    ignore: MOVED,
    kv_cache_scheme: MOVED,
  };

  private quantizers: QuantizationMixin[] = [];
  private resolved: ResolvedAWQMapping[] = [];
  private schemes = new Map<Module, SearchWeightScheme>();
  private parentInputs = new Map<Module, ParentInputCache>();
  private activations = new Map<string, ActivationSums>();
  private results: AWQMappingResult[] = [];
  private hardware: Hardware | undefined;

  protected override validate(ctx: ParseContext): void {
    super.validate(ctx);
    try {
      awqGridPoints(this.nGrid, this.duoScaling);
    } catch (e) {
      this.fieldPath('n_grid').fail((e as Error).message);
    }
    const d = this.offloadDevice;
    if (typeof d === 'string' && d !== 'cpu' && !ON_DEVICE.test(d)) {
      this.fieldPath('offload_device').fail(`expected "cpu" (cached inputs in host memory), a GPU device such as "cuda" (keep them on the GPU) or null, got ${JSON.stringify(d)}`);
    }
  }

  /** The mappings matched in the model, in the order they are applied (after calibration starts). */
  get resolvedMappings(): readonly ResolvedAWQMapping[] {
    return this.resolved;
  }

  /** One entry per smoothed mapping, in the order they were smoothed. */
  get mappingResults(): readonly AWQMappingResult[] {
    return this.results;
  }

  override onInitialize(state: State, options: InitializeOptions): boolean {
    const model = requireModel(state, this.type);
    this.hardware = requireHardware(state, this.type);
    if (!options.modifiers) {
      throw new Error(`${this.recipePath}: ${this.type} takes its quantization scheme from the modifiers after it in the recipe; initialize it through a recipe (a session or oneshot)`);
    }
    const at = options.modifiers.indexOf(this);
    this.quantizers = options.modifiers.slice(at + 1).filter((m): m is QuantizationMixin => m instanceof QuantizationMixin);
    if (at < 0 || this.quantizers.length === 0) {
      throw new Error(`${this.recipePath}: Recipe includes AWQModifier with no subsequent quantization modifier. AWQ must be run with a subsequent quantization modifier`);
    }
    if (this.mappings === null) {
      state.loggers.info(`No ${this.type}.mappings provided, inferring from model...`, { modifier: this.type });
      this.mappings = awqMappingsFor(model.architecture).map((m) => ({ ...m, balanceLayers: [...m.balanceLayers] }));
    }
    if (this.offloadDevice === undefined) {
      const moe = isMoE(model);
      this.offloadDevice = moe ? 'cpu' : null;
      if (moe) state.loggers.info(`MoE model detected: setting offload_device to 'cpu' by default to reduce memory usage. You can override this by explicitly setting offload_device in your recipe.`, { modifier: this.type });
    }
    return true;
  }

  override onCalibrationStart(state: State, _event: Event): void {
    const model = requireModel(state, this.type);
    const hw = this.hardware!;
    this.schemes = searchWeightSchemes(model, this.quantizers);
    const notes: ResolutionNotes = { incompatible: 0, skipped: [] };
    try {
      this.resolved = resolveAWQMappings(model.root, this.mappings!, (m) => this.schemes.has(m), notes);
    } catch (e) {
      throw new Error(`${this.fieldPath('mappings')}: ${(e as Error).message}`);
    }
    for (const s of notes.skipped) state.loggers.warning(s, { modifier: this.type });
    if (notes.incompatible > 0) state.loggers.warning(`${notes.incompatible} mappings were skipped due to incompatible shapes.`, { modifier: this.type });
    if (this.duoScaling !== false) {
      for (const m of this.resolved) {
        for (const b of m.balance) {
          if (this.schemes.get(b)?.schemeArgs.strategy === 'tensor') {
            throw new Error(
              `${this.recipePath}: duo_scaling is only supported with per-channel quantization strategies (group or channel), but found TENSOR strategy on layer ${b.name}. Please set duo_scaling=False or use a per-channel quantization strategy.`,
            );
          }
        }
      }
    }
    if (this.resolved.length && !(isCausalLM(model) && model.moduleForward)) {
      throw new Error(`${this.type}: ${model.architecture} cannot re-run its modules on their own (moduleForward), which the grid search needs`);
    }
    for (const m of this.resolved) {
      if (!(model as CausalLM).canRunModule?.(m.parent)) {
        throw new Error(`${this.type}: the parent of mapping ${m.smoothName} → [${m.balance.map((b) => b.name).join(', ')}] is ${m.parent.name || 'the model'} (${m.parent.classNames[0]}), which ${model.architecture} cannot run on its own`);
      }
      if (!this.parentInputs.has(m.parent)) {
        const cache = new ParentInputCache(hw, this.offloadDevice === 'cpu');
        this.parentInputs.set(m.parent, cache);
        this.registerHook(m.parent, 'forward_pre', (call) => cache.add(call.inputs[0], call.kwargs as ModuleKwargs | undefined));
      }
      this.registerHook(m.activationModule, 'forward', (call) => this.observe(m.smoothName, call));
    }
  }

  /** Adds Σ|x| per channel of one forward's input (the balance layers' shared input) to the mapping's running sums. */
  private observe(name: string, call: HookCall): void {
    const hw = this.hardware!;
    const x = call.inputs[0];
    if (!x || x.dtype !== 'f32' || x.shape.length !== 2) throw new Error(`${this.type}: input of ${call.module.name} is not an f32 [tokens, channels] tensor`);
    const cols = x.shape[1];
    let sums = this.activations.get(name);
    const first = !sums;
    if (!sums) {
      sums = { buffer: hw.pool.acquire(4 * cols, undefined, 'wgc-awq-activation-sums'), cols, tokens: 0 };
      this.activations.set(name, sums);
    } else if (sums.cols !== cols) {
      throw new Error(`${this.type}: input of ${call.module.name} has ${cols} channels, earlier batches had ${sums.cols}`);
    }
    columnStatistic(hw, x, 'absSum', { buffer: sums.buffer, accumulate: !first });
    sums.tokens += x.shape[0];
  }

  override async onSequentialEpochEnd(state: State, _subgraph: Subgraph, _event: Event): Promise<void> {
    await this.applySmoothing(state);
  }

  private async applySmoothing(state: State): Promise<void> {
    const model = requireModel(state, this.type) as CausalLM;
    const hw = requireHardware(state, this.type);
    const todo = this.resolved.filter((m) => this.activations.has(m.smoothName));
    for (let i = 0; i < todo.length; i++) {
      const m = todo[i];
      try {
        await this.smoothMapping(state, model, hw, m);
      } finally {
        const sums = this.activations.get(m.smoothName);
        if (sums) hw.pool.releaseAfterSubmit(sums.buffer);
        this.activations.delete(m.smoothName);
        // A parent's inputs are kept until the last mapping that replays them is done.
        if (!todo.slice(i + 1).some((n) => n.parent === m.parent)) {
          this.parentInputs.get(m.parent)?.dispose();
          this.parentInputs.delete(m.parent);
        }
      }
    }
    this.assertActivationsConsumed();
  }

  private async smoothMapping(state: State, model: CausalLM, hw: Hardware, m: ResolvedAWQMapping): Promise<void> {
    const t0 = performance.now();
    const sums = this.activations.get(m.smoothName)!;
    const cache = this.parentInputs.get(m.parent);
    const maxRows = Math.max(1, Math.floor(Math.min(hw.caps.maxStorageBufferBindingSize, BATCH_ACTIVATION_BYTES) / (4 * model.maxActivationWidth)));
    const batches = cache ? cache.batches(maxRows) : [];
    const runParent = async (b: number): Promise<Tensor> => {
      const batch = batches[b];
      const x = batch.input();
      try {
        return await model.root.hooks.withHooksDisabled(() => model.moduleForward!(m.parent, [x], batch.kwargs));
      } finally {
        batch.done(x);
      }
    };
    const fp: Tensor[] = [];
    try {
      for (let b = 0; b < batches.length; b++) fp.push(await runParent(b));
      if (fp.length === 0 || fp.every((y) => y.numel === 0)) {
        state.loggers.info(`Skipping smooth_layer ${m.smoothName}, no activations found to scale.`, { modifier: this.type });
        return;
      }
      if ((await this.nonFinite(hw, fp)) > 0) {
        state.loggers.warning(
          `Skipping smooth_layer ${m.smoothName}, NaN or inf outputs found during forward pass of the parent module ${m.parent.name}. The model is either generating NaN output with provided calibration data set, or the mappings are incorrectly set and modifying the model in undesired ways.`,
          { modifier: this.type },
        );
        return;
      }
      const layers: SearchLayer[] = [];
      for (const b of m.balance) {
        const w = await parameterF32(hw, b, 'weight');
        const scheme = this.schemes.get(b);
        layers.push({ module: b, args: scheme?.args ?? null, original: scheme ? cloneTensor(hw, w, 'wgc-awq-original-weight') : w });
      }
      const grid = awqGridPoints(this.nGrid, this.duoScaling);
      let result: GridSearchResult;
      try {
        result = await awqGridSearch(hw, {
          name: m.smoothName, layers, xSum: sums.buffer, tokens: sums.tokens, cols: sums.cols, grid,
          dtype: modelComputeDtype(model.config), fpOutputs: fp, runParent,
        });
      } catch (e) {
        for (const l of layers) if (l.args) l.original.dispose();
        throw e;
      }
      const s = { buffer: result.scales.buffer, length: sums.cols };
      for (const l of layers) {
        scaleColumns(hw, l.original, s);
        commitParameter(l.module, 'weight', l.original);
      }
      await this.divideSmoothLayer(hw, m.smooth, s);
      result.scales.dispose();
      const initial = result.losses[0];
      const best = result.losses[result.bestIndex];
      const r: AWQMappingResult = {
        smoothName: m.smoothName, parentName: m.parent.name, grid, losses: [...result.losses], bestIndex: result.bestIndex,
        bestRatio: grid[result.bestIndex].ratio, bestDuo: grid[result.bestIndex].duo, initialError: initial, bestError: best,
        reduction: initial > 0 ? best / initial : 1,
        statistics: result.statistics,
        scales: result.candidates.slice(result.bestIndex * sums.cols, (result.bestIndex + 1) * sums.cols),
      };
      this.results.push(r);
      state.loggers.layer({
        modifier: this.type, layer: m.smoothName, seconds: (performance.now() - t0) / 1000, error: best, memoryBytes: hw.pool.stats().liveBytes,
        extra: { initialError: initial, reduction: r.reduction, ratio: r.bestRatio, duo: r.bestDuo ? 1 : 0 },
      });
      state.loggers.debug(
        `AWQ grid search for ${m.smoothName}: initial error = ${initial.toExponential(3)}, best error = ${best.toExponential(3)} (ratio ${r.bestRatio.toFixed(3)}${r.bestDuo ? ', duo' : ''}), error reduction rate (best/initial) = ${(r.reduction * 100).toFixed(3)}%`,
        { modifier: this.type },
      );
    } finally {
      for (const y of fp) y.dispose();
    }
  }

  /** Number of inf/NaN values in the outputs (one readback). */
  private async nonFinite(hw: Hardware, ys: readonly Tensor[]): Promise<number> {
    const acc = new SquaredErrorSum(hw);
    const out = hw.pool.acquire(16, undefined, 'wgc-awq-nonfinite');
    try {
      for (const y of ys) acc.addNonFinite(y);
      acc.foldInto(out, 0);
      const words = await hw.batcher.read(out, 0, 4);
      return new Float32Array(words)[0];
    } finally {
      acc.dispose();
      hw.pool.releaseAfterSubmit(out);
    }
  }

  /**
   * weight /= s and bias /= s on the smooth layer: a norm's 1-D weight, or
   * the rows of a Linear; when the Linear has more rows than scales (a fused
   * qkv_proj smoothing o_proj) only its last rows, as llm-compressor does.
   */
  private async divideSmoothLayer(hw: Hardware, smooth: Module, s: { buffer: GPUBuffer; length: number }): Promise<void> {
    for (const local of ['weight', 'bias']) {
      if (!smooth.getParameter(local)) continue;
      const w = await parameterF32(hw, smooth, local);
      const rows = w.shape[0];
      if (rows < s.length || (w.shape.length === 1 && rows !== s.length)) {
        throw new Error(`${this.type}: smooth layer ${smooth.name}.${local} has shape [${w.shape.join(', ')}], which does not match ${s.length} smoothing scales`);
      }
      scaleRows(hw, w, s, { firstRow: rows - s.length });
      commitParameter(smooth, local, w);
    }
  }

  private assertActivationsConsumed(): void {
    if (this.activations.size !== 0) throw new Error(`${this.recipePath}: Some cached activations were not used (${[...this.activations.keys()].slice(0, 3).join(', ')})`);
  }

  override onCalibrationEnd(_state: State, _event: Event): void {
    this.assertActivationsConsumed();
    this.removeHooks();
  }

  override onFinalize(state: State): boolean {
    if (this.results.length === 0) {
      state.loggers.warning('No error metrics were collected during AWQ transformation; skipping error summary.', { modifier: this.type });
    } else {
      const red = this.results.map((r) => r.reduction).sort((a, b) => a - b);
      const avg = red.reduce((a, b) => a + b, 0) / red.length;
      state.loggers.info(
        `AWQ: ${red.length} mappings smoothed; error reduction (best/initial) avg=${avg.toFixed(4)}, median=${red[Math.floor(red.length / 2)].toFixed(4)}, min=${red[0].toFixed(4)}, max=${red[red.length - 1].toFixed(4)}`,
        { modifier: this.type },
      );
    }
    for (const c of this.parentInputs.values()) c.dispose();
    this.parentInputs.clear();
    for (const a of this.activations.values()) this.hardware?.pool.releaseAfterSubmit(a.buffer);
    this.activations.clear();
    return true;
  }
}
