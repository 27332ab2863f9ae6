/**
 * SparsityModifierBase (llm-compressor `modifiers/pruning/sparsegpt/sgpt_base.py`):
 * fields shared by SparseGPT and Wanda.
 */
import { field, t, type FieldSpec, type FieldType, type FieldsOut, type ParseContext } from '../../recipe/schema.js';
import { MODIFIER_FIELDS, Modifier } from '../modifier.js';
import { targetList } from '../quantization/args.js';

/** `N:M` (N of every M weights pruned, e.g. `2:4`) or `0:0` (unstructured). */
export function parseMaskStructure(s: string): { n: number; m: number } | undefined {
  const m = /^(\d+):(\d+)$/.exec(s.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const total = Number(m[2]);
  if ((n === 0 && total === 0) || (n > 0 && n < total)) return { n, m: total };
  return undefined;
}

const maskStructure = t.string({
  label: '"N:M" with 0 < N < M, or "0:0" (unstructured)',
  check: (s) => (parseMaskStructure(s) ? undefined : `invalid mask_structure ${JSON.stringify(s)}: expected "N:M" with 0 < N < M (e.g. "2:4"), or "0:0" for unstructured`),
});

const fraction = t.float({ min: 0, max: 1 });

const sparsityType: FieldType<number | number[], number | number[]> = t.oneOf(
  'a sparsity in [0, 1] or a list of them (one per target layer)',
  [fraction as FieldType<number | number[], number | number[]>, t.list(fraction) as FieldType<number | number[], number | number[]>],
  (v) => (Array.isArray(v) ? 1 : 0),
);

const sequentialUpdate: FieldType<boolean> = {
  label: 'boolean (deprecated; always true)',
  parse(v, ctx) {
    const b = t.bool().parse(v, ctx);
    if (!b) ctx.warnings.push(`${ctx.path}: \`sequential_update=False\` is no longer supported, setting sequential_update=True`);
    return true;
  },
  toPlain: (v) => v,
};

export const SPARSITY_FIELDS = [
  field('sparsity', t.nullable(sparsityType), { required: true, doc: 'Fraction of weights to prune, or one fraction per target layer.' }),
  field('sparsity_profile', t.nullable(t.enum(['owl'] as const, { caseInsensitive: true })), { default: null, doc: 'Per-layer sparsity profile; only "owl".' }),
  field('mask_structure', maskStructure, { default: '0:0', doc: '"N:M" structured sparsity (e.g. "2:4") or "0:0" for unstructured.' }),
  field('owl_m', t.nullable(t.int({ min: 1 })), { default: null, doc: 'OWL: number of outliers considered.' }),
  field('owl_lmbda', t.nullable(t.float()), { default: null, doc: 'OWL: spread of layer sparsities around the target.' }),
  field('sequential_update', t.nullable(sequentialUpdate), { default: false, deprecated: true, doc: 'Deprecated; forced to true when given.' }),
  field('targets', targetList(), { default: ['Linear'], doc: 'Modules to prune (only Linear/Conv weights inside them are prunable).' }),
  field('ignore', targetList(), { default: [], doc: 'Modules never pruned.' }),
] as const;

export interface SparsityModifierBase extends FieldsOut<typeof SPARSITY_FIELDS> {}

/** Base of SparseGPT and Wanda: both need calibration data. */
export abstract class SparsityModifierBase extends Modifier {
  static override readonly fields: readonly FieldSpec[] = [...SPARSITY_FIELDS, ...MODIFIER_FIELDS];
  static override readonly requiresCalibrationData: boolean = true;

  protected override validate(ctx: ParseContext): void {
    super.validate(ctx);
    const owl = [this.owlM !== null, this.owlLmbda !== null, this.sparsityProfile === 'owl'];
    if (owl.some(Boolean) && !owl.every(Boolean)) this.recipePath.fail('Must provide all of `profile="owl"`, `owl_m` and `owl_lmbda` or none');
  }

  /** `mask_structure` as numbers: n = m = 0 for unstructured. */
  get pruneNM(): { n: number; m: number } {
    return parseMaskStructure(this.maskStructure)!;
  }
}
