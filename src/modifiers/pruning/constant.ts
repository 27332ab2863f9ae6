/**
 * ConstantPruningModifier (llm-compressor `modifiers/pruning/constant/base.py`):
 * keeps an existing sparsity mask fixed during training. At `start` it records
 * the mask |W| > 1e-8 of every targeted weight (GPU bit masks); on each
 * OPTIM_POST_STEP it multiplies the weights by their masks again. Like
 * llm-compressor it does nothing in a oneshot run without a `start`.
 */
import type { Event } from '../../core/events.js';
import { EventType } from '../../core/events.js';
import type { Module } from '../../core/model.js';
import { requireHardware, requireModel, type State } from '../../core/state.js';
import type { Tensor } from '../../gpu/tensor.js';
import { matchNamedModules } from '../../recipe/match.js';
import { field, type FieldSpec, type FieldsOut } from '../../recipe/schema.js';
import { MODIFIER_FIELDS, Modifier, type InitializeOptions } from '../modifier.js';
import { targetList } from '../quantization/args.js';
import { applyKeepMask, keepMask } from '../../compression/kernels/prune.js';

export const CONSTANT_PRUNING_FIELDS = [field('targets', targetList(), { required: true, doc: 'Parameters or modules whose masks are kept.' })] as const;

/** llm-compressor's `_epsilon = 10e-9`. */
const EPSILON = 10e-9;

export interface ConstantPruningModifier extends FieldsOut<typeof CONSTANT_PRUNING_FIELDS> {}

export class ConstantPruningModifier extends Modifier {
  static override readonly fields: readonly FieldSpec[] = [...CONSTANT_PRUNING_FIELDS, ...MODIFIER_FIELDS];

  private modules: Module[] = [];
  private readonly masks = new Map<Module, Tensor>();

  override onInitialize(state: State, _options: InitializeOptions): boolean {
    const model = requireModel(state, this.type);
    const targets = this.targets.map((x) => x.replace(/\.weight$/, ''));
    this.modules = matchNamedModules(model.root, targets).filter((m) => m.getParameter('weight'));
    if (this.modules.length === 0) this.fieldPath('targets').fail(`no module with a weight matches ${JSON.stringify(this.targets)}`);
    return true;
  }

  override async onStart(state: State, _event: Event): Promise<void> {
    const hw = requireHardware(state, this.type);
    for (const m of this.modules) {
      const w = await m.getParameter('weight')!.get();
      if (w.dtype !== 'f32' || w.shape.length !== 2) throw new Error(`${m.name}.weight: masks are kept on 2-D f32 weights, got ${w.dtype} [${w.shape.join(', ')}]`);
      this.masks.get(m)?.dispose();
      this.masks.set(m, keepMask(hw, w, EPSILON));
    }
  }

  override async onUpdate(state: State, event: Event): Promise<void> {
    if (event.type !== EventType.OPTIM_POST_STEP) return;
    const hw = requireHardware(state, this.type);
    for (const [m, mask] of this.masks) {
      const p = m.getParameter('weight')!;
      const w = await p.get();
      applyKeepMask(hw, w, mask);
      p.set(w);
    }
  }

  /** The kept-weight bit masks (u32 [rows, ceil(cols/32)]) taken at `start`. */
  get keptMasks(): ReadonlyMap<Module, Tensor> {
    return this.masks;
  }

  override onFinalize(_state: State): boolean {
    for (const t of this.masks.values()) t.dispose();
    this.masks.clear();
    return true;
  }
}
