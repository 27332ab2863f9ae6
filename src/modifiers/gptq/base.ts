/**
 * GPTQModifier (llm-compressor `modifiers/gptq/base.py`): GPTQ weight
 * quantization from a Hessian of each layer's inputs (reference §6.1).
 * Fields and the activation-ordering resolution are complete; the algorithm
 * is not written yet.
 */
import type { State } from '../../core/state.js';
import { field, t, type FieldSpec, type FieldsOut } from '../../recipe/schema.js';
import { MODIFIER_FIELDS, notImplemented, type InitializeOptions } from '../modifier.js';
import { ACTIVATION_ORDERINGS, canonicalActorder, type ActivationOrdering, type QuantizationScheme } from '../quantization/args.js';
import { QUANTIZATION_MIXIN_FIELDS, QuantizationMixin, type QuantizationConfig } from '../quantization/mixin.js';

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

export class GPTQModifier extends QuantizationMixin {
  static override readonly fields: readonly FieldSpec[] = [...GPTQ_FIELDS, ...QUANTIZATION_MIXIN_FIELDS, ...MODIFIER_FIELDS];
  static override readonly requiresCalibrationData: boolean = true;

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

  override onInitialize(_state: State, _options: InitializeOptions): boolean {
    throw notImplemented(this);
  }
}
