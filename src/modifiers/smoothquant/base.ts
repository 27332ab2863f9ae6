/**
 * SmoothQuantModifier (llm-compressor `modifiers/transform/smoothquant/base.py`,
 * reference §6.4): moves activation outliers into the weights with
 * per-channel scales.
 *
 * Lifecycle: `onInitialize` resolves the mappings (inferred from the
 * architecture when none are given); `onCalibrationStart` hooks every smooth
 * layer's output, whose per-channel min and max a GPU column reduction keeps
 * over the calibration set; each `SEQUENTIAL_EPOCH_END` smooths the mappings
 * that have statistics, in place on the GPU:
 *   act_j = max_j − min_j,  w_j = 2 · max over balance layers of max_rows |W[:, j]|,
 *   s_j = act_j^α / w_j^(1−α) (act_j where w_j = 0)   or, log equalization,
 *   s_j = act_j / log2(2 + act_j);  s = max(s, 1e-5);
 *   balance W[:, j] ·= s_j;  smooth weight (and bias) /= s.
 * The quantizing modifier after it then sees the smoothed weights.
 */
import type { Event, Subgraph } from '../../core/events.js';
import type { HookCall, Module } from '../../core/model.js';
import { requireHardware, requireModel, type State } from '../../core/state.js';
import type { Hardware } from '../../gpu/hardware.js';
import type { Tensor } from '../../gpu/tensor.js';
import { targetProblem } from '../../recipe/match.js';
import { describeValue, field, t, type FieldSpec, type FieldType, type FieldsOut, type ParseContext } from '../../recipe/schema.js';
import { MODIFIER_FIELDS, Modifier, type InitializeOptions } from '../modifier.js';
import { targetList } from '../quantization/args.js';
import { columnStatistic, scaleColumns, scaleRows, smoothQuantScales } from './kernels.js';
import { resolveSmoothQuantMappings, smoothQuantMappingsFor, type ResolvedSmoothQuantMapping } from './mappings.js';
import { commitParameter, parameterF32 } from './weights.js';

/** `[balance_layers, smooth_layer]`: the layers reading the smoothed activation, and the layer producing it. */
export type SmoothQuantMapping = [balanceLayers: string[], smoothLayer: string];

const mapping: FieldType<SmoothQuantMapping> = {
  label: '[[balance layers...], smooth layer]',
  parse(v, ctx) {
    if (!Array.isArray(v) || v.length !== 2) return ctx.path.fail(`expected a mapping [[balance layers...], smooth layer], got ${describeValue(v)}${Array.isArray(v) ? ` of ${v.length} item(s)` : ''}`);
    const balance = targetList().parse(v[0], { ...ctx, path: ctx.path.child(0) });
    const smooth = t.string({ check: targetProblem }).parse(v[1], { ...ctx, path: ctx.path.child(1) });
    return [balance, smooth];
  },
  toPlain: (v) => [[...v[0]], v[1]],
};

/** A Python callable cannot be written in a recipe; only null is meaningful here. */
const callable: FieldType<null> = {
  label: 'null (a Python callable in llm-compressor)',
  parse: (v, ctx) => (v === null ? null : ctx.path.fail(`a calibration function cannot be given in a recipe (got ${describeValue(v)}); it is unused in llm-compressor too`)),
  toPlain: () => null,
};

export const SMOOTHQUANT_FIELDS = [
  field('smoothing_strength', t.float({ min: 0, max: 1 }), { default: 0.5, doc: 'α: how much of the activation range moves into the weights.' }),
  field('mappings', t.nullable(t.list(mapping)), { default: null, doc: 'Smoothing mappings; inferred from the architecture when null.' }),
  field('ignore', t.nullable(targetList()), { default: null, doc: 'Layers to leave alone; a mapping is skipped only when all its layers are ignored.' }),
  field('num_calibration_steps', t.nullable(t.int({ min: 1 })), { default: null, doc: 'Declared by llm-compressor but unused.' }),
  field('calibration_function', t.nullable(callable), { default: null, doc: 'Declared by llm-compressor but unused.' }),
  field('algorithm', t.enum(['smoothquant', 'log_equalization'] as const), { default: 'smoothquant', doc: 'SmoothQuant, or logarithmic activation equalization.' }),
] as const;

export interface SmoothQuantModifier extends FieldsOut<typeof SMOOTHQUANT_FIELDS> {}

/** Running per-channel `[min..., max...]` of one smooth layer's output, on the GPU. */
interface ChannelRange {
  readonly buffer: GPUBuffer;
  readonly cols: number;
}

export class SmoothQuantModifier extends Modifier {
  static override readonly fields: readonly FieldSpec[] = [...SMOOTHQUANT_FIELDS, ...MODIFIER_FIELDS];
  static override readonly requiresCalibrationData: boolean = true;

  private resolved: ResolvedSmoothQuantMapping[] = [];
  private ranges = new Map<string, ChannelRange>();
  private hardware: Hardware | undefined;

  protected override validate(ctx: ParseContext): void {
    super.validate(ctx);
    // llm-compressor checks truthiness, so 0 passes as well as null and -1.
    if (this.end && this.end !== -1) this.fieldPath('end').fail(`${this.type} can only be applied during one-shot. Expected end to be None or -1, got ${this.end}`);
    if (this.start && this.start !== -1) this.fieldPath('start').fail(`${this.type} can only be applied during one-shot. Expected start to be None or -1, got ${this.start}`);
  }

  /** The mappings matched in the model, in the order they are applied (after `initialize`). */
  get resolvedMappings(): readonly ResolvedSmoothQuantMapping[] {
    return this.resolved;
  }

  override onInitialize(state: State, _options: InitializeOptions): boolean {
    const model = requireModel(state, this.type);
    this.hardware = requireHardware(state, this.type);
    if (state.data.calib === undefined || state.data.calib === null) throw new Error(`${this.recipePath}: ${this.type} requires a calibration dataset to be provided`);
    if (this.mappings === null) {
      state.loggers.info(`No ${this.type}.mappings provided, inferring from model...`, { modifier: this.type });
      this.mappings = smoothQuantMappingsFor(model.architecture).map(([b, s]) => [[...b], s]);
    }
    try {
      this.resolved = resolveSmoothQuantMappings(model.root, this.mappings, this.ignore ?? [], (msg) => state.loggers.warning(msg, { modifier: this.type }));
    } catch (e) {
      throw new Error(`${this.fieldPath('mappings')}: error resolving mappings for ${model.architecture}: ${(e as Error).message}`);
    }
    this.ranges.clear();
    return true;
  }

  override onCalibrationStart(_state: State, _event: Event): void {
    for (const m of this.resolved) this.registerHook(m.smooth, 'forward', (call) => this.observe(m.smoothName, call));
  }

  /** Folds one forward's output of a smooth layer into its running per-channel min/max. */
  private observe(name: string, call: HookCall): void {
    const hw = this.hardware!;
    const y = call.output;
    if (!y) throw new Error(`${this.type}: ${name} reported no output to its forward hook`);
    if (y.dtype !== 'f32' || y.shape.length !== 2) throw new Error(`${this.type}: output of ${name} is [${y.shape.join(', ')}] ${y.dtype}; expected f32 [tokens, channels]`);
    const cols = y.shape[1];
    let range = this.ranges.get(name);
    const first = !range;
    if (!range) {
      range = { buffer: hw.pool.acquire(8 * cols, undefined, 'wgc-smoothquant-range'), cols };
      this.ranges.set(name, range);
    } else if (range.cols !== cols) {
      throw new Error(`${this.type}: output of ${name} has ${cols} channels, earlier batches had ${range.cols}`);
    }
    columnStatistic(hw, y, 'minMax', { buffer: range.buffer, accumulate: !first });
  }

  override async onSequentialEpochEnd(state: State, _subgraph: Subgraph, _event: Event): Promise<void> {
    const hw = requireHardware(state, this.type);
    for (const m of this.resolved) {
      const range = this.ranges.get(m.smoothName);
      if (!range) continue;
      state.loggers.info(`Smoothing with ${m.smoothName}`, { modifier: this.type });
      await this.smooth(hw, m, range);
      hw.pool.releaseAfterSubmit(range.buffer);
      this.ranges.delete(m.smoothName);
    }
  }

  private async smooth(hw: Hardware, m: ResolvedSmoothQuantMapping, range: ChannelRange): Promise<void> {
    const cols = range.cols;
    const weights: Tensor[] = [];
    for (const b of m.balance) {
      const w = await parameterF32(hw, b, 'weight');
      if (w.shape.length !== 2 || w.shape[1] !== cols) throw new Error(`${this.type}: balance layer ${b.name} has weight [${w.shape.join(', ')}], but ${m.smoothName} outputs ${cols} channels`);
      weights.push(w);
    }
    let weightMax: GPUBuffer | undefined;
    if (this.algorithm === 'smoothquant') {
      weightMax = hw.pool.acquire(4 * cols, undefined, 'wgc-smoothquant-weight-max');
      weights.forEach((w, i) => columnStatistic(hw, w, 'absMax', { buffer: weightMax!, accumulate: i > 0 }));
    }
    // Log equalization reads no weight term; the range buffer stands in for the binding.
    const scales = smoothQuantScales(hw, range.buffer, weightMax ?? range.buffer, cols, { alpha: this.smoothingStrength, algorithm: this.algorithm === 'log_equalization' ? 'log_equalization' : 'smoothquant' });
    const s = { buffer: scales.buffer, length: cols };
    m.balance.forEach((b, i) => {
      scaleColumns(hw, weights[i], s);
      commitParameter(b, 'weight', weights[i]);
    });
    await this.divideSmoothLayer(hw, m.smooth, s);
    scales.dispose();
    if (weightMax) hw.pool.releaseAfterSubmit(weightMax);
  }

  /** weight /= s (a norm's 1-D weight, or the rows of a 2-D one), bias /= s. */
  private async divideSmoothLayer(hw: Hardware, smooth: Module, s: { buffer: GPUBuffer; length: number }): Promise<void> {
    for (const local of ['weight', 'bias']) {
      if (!smooth.getParameter(local)) continue;
      const w = await parameterF32(hw, smooth, local);
      if (w.shape[0] !== s.length) throw new Error(`${this.type}: smooth layer ${smooth.name}.${local} has shape [${w.shape.join(', ')}], which does not match ${s.length} smoothing scales`);
      scaleRows(hw, w, s);
      commitParameter(smooth, local, w);
    }
  }

  override onCalibrationEnd(_state: State, _event: Event): void {
    this.removeHooks();
  }

  override onFinalize(_state: State): boolean {
    const left = this.ranges.size;
    for (const r of this.ranges.values()) this.hardware?.pool.releaseAfterSubmit(r.buffer);
    this.ranges.clear();
    if (left > 0) throw new Error(`${this.recipePath}: Failed to compress ${left} modules`);
    return true;
  }
}
