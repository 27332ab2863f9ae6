/**
 * SmoothQuant mappings (llm-compressor `modifiers/transform/smoothquant/utils.py`):
 * `[[balance layers...], smooth layer]` defaults per architecture, and their
 * resolution against a module tree, one smooth layer per decoder layer.
 */
import type { Module } from '../../core/model.js';
import { matchModulesSet, matchNamedModules } from '../../recipe/match.js';
import type { SmoothQuantMapping } from './base.js';

/** Llama-style decoder layers: q/k/v from input_layernorm, gate/up from post_attention_layernorm. */
export const SMOOTHQUANT_DEFAULT_MAPPINGS: readonly SmoothQuantMapping[] = [
  [['re:.*q_proj', 're:.*k_proj', 're:.*v_proj'], 're:.*input_layernorm'],
  [['re:.*gate_proj', 're:.*up_proj'], 're:.*post_attention_layernorm'],
];

/** Attention only: one smoothing scale across all experts unbalances them (Mixtral, Qwen MoE). */
const ATTENTION_ONLY: readonly SmoothQuantMapping[] = [SMOOTHQUANT_DEFAULT_MAPPINGS[0]];
const QWEN_MOE: readonly SmoothQuantMapping[] = [[['re:.*q_proj$', 're:.*k_proj$', 're:.*v_proj$'], 're:.*input_layernorm$']];
const FUSED_PROJECTIONS: readonly SmoothQuantMapping[] = [
  [['re:.*qkv_proj'], 're:.*input_layernorm'],
  [['re:.*gate_up_proj'], 're:.*post_attention_layernorm'],
];
const BLOOM: readonly SmoothQuantMapping[] = [
  [['re:.*query_key_value'], 're:.*input_layernorm'],
  [['re:.*dense_h_to_4h'], 're:.*post_attention_layernorm'],
];
const COHERE: readonly SmoothQuantMapping[] = [
  [['re:.*self_attn\\.q_proj$', 're:.*self_attn\\.k_proj$', 're:.*self_attn\\.v_proj$', 're:.*mlp\\.gate_proj$', 're:.*mlp\\.up_proj$'], 're:.*input_layernorm$'],
];

/** `MAPPINGS_REGISTRY` for the architectures whose module names this engine can meet; others use the defaults. */
export const SMOOTHQUANT_MAPPING_REGISTRY: Readonly<Record<string, readonly SmoothQuantMapping[]>> = {
  LlamaForCausalLM: SMOOTHQUANT_DEFAULT_MAPPINGS,
  MistralForCausalLM: SMOOTHQUANT_DEFAULT_MAPPINGS,
  Qwen2ForCausalLM: SMOOTHQUANT_DEFAULT_MAPPINGS,
  Qwen3ForCausalLM: SMOOTHQUANT_DEFAULT_MAPPINGS,
  GraniteForCausalLM: SMOOTHQUANT_DEFAULT_MAPPINGS,
  Gemma2ForCausalLM: SMOOTHQUANT_DEFAULT_MAPPINGS,
  Gemma3ForCausalLM: SMOOTHQUANT_DEFAULT_MAPPINGS,
  MixtralForCausalLM: ATTENTION_ONLY,
  Qwen2MoeForCausalLM: QWEN_MOE,
  Qwen3MoeForCausalLM: QWEN_MOE,
  Phi3ForCausalLM: FUSED_PROJECTIONS,
  BloomForCausalLM: BLOOM,
  CohereForCausalLM: COHERE,
  Cohere2ForCausalLM: COHERE,
};

/** The mappings llm-compressor infers for `architecture`: its registry entry, else the defaults. */
export function smoothQuantMappingsFor(architecture: string): readonly SmoothQuantMapping[] {
  return SMOOTHQUANT_MAPPING_REGISTRY[architecture] ?? SMOOTHQUANT_DEFAULT_MAPPINGS;
}

/** A mapping matched in one decoder layer. */
export interface ResolvedSmoothQuantMapping {
  readonly smoothName: string;
  readonly smooth: Module;
  readonly balance: readonly Module[];
}

/**
 * Resolves `mappings` against the tree under `root` (`_resolve_mappings`).
 * Matching ignores `ignore`; a match is skipped only when its smooth layer
 * and every balance layer are ignored (then `onSkip` is told why).
 */
export function resolveSmoothQuantMappings(root: Module, mappings: readonly SmoothQuantMapping[], ignore: readonly string[], onSkip: (message: string) => void): ResolvedSmoothQuantMapping[] {
  const ignored = new Set(ignore.length ? matchNamedModules(root, ignore).map((m) => m.name) : []);
  const out: ResolvedSmoothQuantMapping[] = [];
  for (const [balanceTargets, smoothTarget] of mappings) {
    for (const sets of matchModulesSet(root, [...balanceTargets, smoothTarget])) {
      const smooths = sets[sets.length - 1];
      if (smooths.length !== 1) {
        throw new Error(`SmoothQuant must match a single smooth layer for each mapping but got [${smooths.map((s) => s.name).join(', ')}] for mapping [[${balanceTargets.join(', ')}], ${smoothTarget}]`);
      }
      const smooth = smooths[0];
      const balance = sets.slice(0, -1).flat();
      if (ignored.has(smooth.name) && balance.every((b) => ignored.has(b.name))) {
        onSkip(`Skipping SmoothQuant for ${smooth.name} because all layers in the mapping are in the ignore list`);
        continue;
      }
      if (balance.length === 0) {
        onSkip(`Skipping SmoothQuant for ${smooth.name} because no balance layers were found`);
        continue;
      }
      out.push({ smoothName: smooth.name, smooth, balance });
    }
  }
  return out;
}
