/**
 * AWQ mappings (llm-compressor `modifiers/transform/awq/mappings.py`): the
 * per-architecture defaults, and their resolution against a module tree —
 * one smooth layer and its balance layers per decoder layer, the parent
 * module whose output the search compares, and the module whose input the
 * activation statistics come from.
 */
import type { Module } from '../../core/model.js';
import { lowestCommonAncestorName, matchModulesSet } from '../../recipe/match.js';
import type { AWQMapping } from './base.js';

const m = (smooth: string, balance: string[]): AWQMapping => ({ smoothLayer: smooth, balanceLayers: balance, activationHookTarget: null });

/** Llama-style decoder layers (llm-compressor `default_mappings`). */
export const AWQ_DEFAULT_MAPPINGS: readonly AWQMapping[] = [
  m('re:.*input_layernorm$', ['re:.*q_proj$', 're:.*k_proj$', 're:.*v_proj$']),
  m('re:.*v_proj$', ['re:.*o_proj$']),
  m('re:.*post_attention_layernorm$', ['re:.*gate_proj$', 're:.*up_proj$']),
  m('re:.*up_proj$', ['re:.*down_proj$']),
];

const MOE_MAPPINGS: readonly AWQMapping[] = [
  AWQ_DEFAULT_MAPPINGS[0],
  AWQ_DEFAULT_MAPPINGS[1],
  m('re:.*post_attention_layernorm$', ['re:.*mlp.gate$', 're:.*mlp.experts.*.gate_proj$', 're:.*mlp.experts.*.up_proj$']),
  AWQ_DEFAULT_MAPPINGS[3],
];

/** Fused q/k/v and gate/up projections (Phi-3). */
const PHI_MAPPINGS: readonly AWQMapping[] = [
  m('re:.*input_layernorm$', ['re:.*qkv_proj$']),
  m('re:.*qkv_proj$', ['re:.*o_proj$']),
  m('re:.*post_attention_layernorm$', ['re:.*gate_up_proj$']),
  m('re:.*gate_up_proj$', ['re:.*down_proj$']),
];

/** Gemma 2 feeds the MLP from pre_feedforward_layernorm. */
const GEMMA2_MAPPINGS: readonly AWQMapping[] = [
  AWQ_DEFAULT_MAPPINGS[0],
  AWQ_DEFAULT_MAPPINGS[1],
  m('re:.*pre_feedforward_layernorm$', ['re:.*gate_proj$', 're:.*up_proj$']),
  AWQ_DEFAULT_MAPPINGS[3],
];

/** Gemma 3 normalises q/k after the projections; smoothing input_layernorm hurts there (llm-compressor issue #2522). */
const GEMMA3_MAPPINGS: readonly AWQMapping[] = GEMMA2_MAPPINGS.slice(1);

/** Cohere runs attention and MLP in parallel from one norm. */
const COHERE_MAPPINGS: readonly AWQMapping[] = [
  m('re:.*input_layernorm$', ['re:.*self_attn.q_proj$', 're:.*self_attn.k_proj$', 're:.*self_attn.v_proj$', 're:.*mlp.gate_proj$', 're:.*mlp.up_proj$']),
  AWQ_DEFAULT_MAPPINGS[1],
  AWQ_DEFAULT_MAPPINGS[3],
];

/** Architectures whose norms sit elsewhere or whose projections are smoothed only pairwise (Exaone 4, OLMo). */
const PAIRWISE_MAPPINGS: readonly AWQMapping[] = [AWQ_DEFAULT_MAPPINGS[1], AWQ_DEFAULT_MAPPINGS[3]];

/** `AWQ_MAPPING_REGISTRY` for the architectures whose module names this engine can meet; others use the defaults. */
export const AWQ_MAPPING_REGISTRY: Readonly<Record<string, readonly AWQMapping[]>> = {
  LlamaForCausalLM: AWQ_DEFAULT_MAPPINGS,
  MistralForCausalLM: AWQ_DEFAULT_MAPPINGS,
  Qwen2ForCausalLM: AWQ_DEFAULT_MAPPINGS,
  Qwen3ForCausalLM: AWQ_DEFAULT_MAPPINGS,
  GraniteForCausalLM: AWQ_DEFAULT_MAPPINGS,
  Mistral3ForConditionalGeneration: AWQ_DEFAULT_MAPPINGS,
  Qwen2MoeForCausalLM: MOE_MAPPINGS,
  Qwen3MoeForCausalLM: MOE_MAPPINGS,
  Glm4MoeForCausalLM: MOE_MAPPINGS,
  Phi3ForCausalLM: PHI_MAPPINGS,
  Gemma2ForCausalLM: GEMMA2_MAPPINGS,
  Gemma3ForCausalLM: GEMMA3_MAPPINGS,
  CohereForCausalLM: COHERE_MAPPINGS,
  Cohere2ForCausalLM: COHERE_MAPPINGS,
  Exaone4ForCausalLM: PAIRWISE_MAPPINGS,
  OlmoForCausalLM: PAIRWISE_MAPPINGS,
  Olmo3ForCausalLM: PAIRWISE_MAPPINGS,
};

/** The mappings llm-compressor infers for `architecture`: its registry entry, else the defaults. */
export function awqMappingsFor(architecture: string): readonly AWQMapping[] {
  return AWQ_MAPPING_REGISTRY[architecture] ?? AWQ_DEFAULT_MAPPINGS;
}

/** A mapping matched in one decoder layer. */
export interface ResolvedAWQMapping {
  readonly smoothName: string;
  readonly smooth: Module;
  readonly balance: readonly Module[];
  /** Lowest common ancestor of the balance layers that is not a ModuleList: the module the search re-runs. */
  readonly parent: Module;
  /** Whose input the activation statistics are taken from: `activation_hook_target` under the parent, else balance[0]. */
  readonly activationModule: Module;
}

/** Why mappings were left out, for the modifier's log. */
export interface ResolutionNotes {
  /** Mappings skipped because a v_proj → o_proj pair has incompatible shapes (grouped-query attention). */
  incompatible: number;
  /** One line per mapping skipped for another reason. */
  skipped: string[];
}

function outFeatures(mod: Module): number | undefined {
  const w = mod.getParameter('weight');
  return w && w.shape.length === 2 ? w.shape[0] : undefined;
}

function inFeatures(mod: Module): number | undefined {
  const w = mod.getParameter('weight');
  return w && w.shape.length === 2 ? w.shape[1] : undefined;
}

/** False for llm-compressor's incompatible pairs: v_proj (or fused qkv_proj) into an o_proj of a different width. */
function compatible(smooth: Module, balance: readonly Module[]): boolean {
  if (!smooth.isA('Linear')) return true;
  for (const b of balance) {
    if (!b.isA('Linear') || !b.name.endsWith('.o_proj')) continue;
    const out = outFeatures(smooth);
    const inF = inFeatures(b);
    if (out === undefined || inF === undefined) continue;
    if (smooth.name.endsWith('.v_proj') && out !== inF) return false;
    if (smooth.name.endsWith('.qkv_proj') && out !== 3 * inF) return false;
  }
  return true;
}

/** The lowest common ancestor of `names`, moving up past ModuleLists (whose forward never runs). */
export function parentOf(root: Module, names: readonly string[]): Module {
  let name = lowestCommonAncestorName(names);
  for (;;) {
    if (name === '') return root;
    const mod = root.getModule(name);
    if (!mod) throw new Error(`AWQ: no module ${name} (common ancestor of ${names.join(', ')})`);
    if (!mod.isA('ModuleList')) return mod;
    name = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : '';
  }
}

function describe(mapping: AWQMapping): string {
  return `{smooth_layer: ${mapping.smoothLayer}, balance_layers: [${mapping.balanceLayers.join(', ')}]}`;
}

/**
 * Resolves `mappings` against the tree under `root` (`_set_resolved_mappings`):
 * each match must have a single smooth layer; incompatible v→o pairs and
 * mappings none of whose layers is quantized (`isQuantized`) are skipped and
 * noted.
 */
export function resolveAWQMappings(root: Module, mappings: readonly AWQMapping[], isQuantized: (m: Module) => boolean, notes: ResolutionNotes): ResolvedAWQMapping[] {
  const out: ResolvedAWQMapping[] = [];
  for (const mapping of mappings) {
    for (const [smooths, ...nested] of matchModulesSet(root, [mapping.smoothLayer, ...mapping.balanceLayers])) {
      if (smooths.length !== 1) {
        throw new Error(`AWQ needs to match a single smooth layer for each mapping but got [${smooths.map((s) => s.name).join(', ')}] for mapping ${describe(mapping)}`);
      }
      const smooth = smooths[0];
      const balance = nested.flat();
      if (!compatible(smooth, balance)) {
        notes.incompatible++;
        continue;
      }
      if (balance.length === 0 || !(isQuantized(smooth) || balance.some(isQuantized))) {
        notes.skipped.push(`Skipping ${smooth.name} for mapping ${describe(mapping)} because ${balance.length === 0 ? 'no balance layers were found' : 'no layers are targeted for quantization'}`);
        continue;
      }
      const parent = parentOf(root, balance.map((b) => b.name));
      let activationModule = balance[0];
      if (mapping.activationHookTarget) {
        const target = parent.getModule(mapping.activationHookTarget);
        if (!target) throw new Error(`activation_hook_target '${mapping.activationHookTarget}' not found on parent module '${parent.name}'`);
        activationModule = target;
      }
      out.push({ smoothName: smooth.name, smooth, balance, parent, activationModule });
    }
  }
  return out;
}
