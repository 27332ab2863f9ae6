/**
 * The module tree of a Llama-family model with Hugging Face names and class
 * names, so recipe `targets`/`ignore` (`Linear`, `LlamaDecoderLayer`,
 * `re:.*q_proj`) select the same modules as in transformers:
 *
 *   ''                                   LlamaForCausalLM
 *   model                                LlamaModel
 *   model.embed_tokens                   Embedding          weight
 *   model.layers                         ModuleList
 *   model.layers.N                       LlamaDecoderLayer
 *   model.layers.N.self_attn             LlamaAttention
 *   model.layers.N.self_attn.{q,k,v,o}_proj  Linear          weight (bias)
 *   model.layers.N.self_attn.{q,k}_norm  Qwen3RMSNorm       weight   (Qwen3)
 *   model.layers.N.mlp                   LlamaMLP
 *   model.layers.N.mlp.{gate,up,down}_proj   Linear          weight (bias)
 *   model.layers.N.input_layernorm       LlamaRMSNorm       weight
 *   model.layers.N.post_attention_layernorm  LlamaRMSNorm   weight
 *   model.norm                           LlamaRMSNorm       weight
 *   lm_head                              Linear             weight (tied: the embedding's Parameter)
 *
 * The activation (`mlp.act_fn`) and rotary-embedding modules of transformers
 * hold no weights and are fused into kernels, so they are not in the tree.
 */
import { Module, type Parameter } from '../../core/model.js';
import type { LlamaConfig } from './config.js';
import type { WeightSpec } from './weights.js';
import { llamaWeightSpecs } from './weights.js';

/** The modules of one decoder layer, by role. */
export interface LlamaLayerModules {
  readonly layer: Module;
  readonly inputNorm: Module;
  readonly attention: Module;
  readonly q: Module;
  readonly k: Module;
  readonly v: Module;
  readonly o: Module;
  readonly qNorm?: Module;
  readonly kNorm?: Module;
  readonly postNorm: Module;
  readonly mlp: Module;
  readonly gate: Module;
  readonly up: Module;
  readonly down: Module;
}

export interface LlamaModules {
  readonly root: Module;
  readonly embed: Module;
  readonly layers: readonly LlamaLayerModules[];
  readonly norm: Module;
  readonly lmHead: Module;
}

/**
 * Builds the tree and attaches a parameter to each weight, created by
 * `parameterFor` from its spec (a lazy checkpoint read, or an in-memory
 * tensor). With tied embeddings `lm_head.weight` is the embedding's Parameter.
 */
export function buildLlamaModules(config: LlamaConfig, parameterFor: (spec: WeightSpec) => Parameter): LlamaModules {
  const P = config.classPrefix;
  const params = new Map<string, Parameter>();
  for (const spec of llamaWeightSpecs(config)) params.set(spec.name, parameterFor(spec));
  const attach = (m: Module, ...local: string[]): Module => {
    for (const n of local) {
      const full = `${m.name}.${n}`;
      const p = params.get(full);
      if (p) m.setParameter(n, p);
    }
    return m;
  };

  const root = new Module([config.architecture]);
  const model = root.addModule('model', [`${P}Model`]);
  const embed = attach(model.addModule('embed_tokens', ['Embedding']), 'weight');
  const list = model.addModule('layers', ['ModuleList']);
  const layers: LlamaLayerModules[] = [];
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const layer = list.addModule(String(i), [`${P}DecoderLayer`]);
    const attention = layer.addModule('self_attn', [`${P}Attention`]);
    const linear = (parent: Module, name: string): Module => attach(parent.addModule(name, ['Linear']), 'weight', 'bias');
    const q = linear(attention, 'q_proj');
    const k = linear(attention, 'k_proj');
    const v = linear(attention, 'v_proj');
    const o = linear(attention, 'o_proj');
    const qNorm = config.qkNorm ? attach(attention.addModule('q_norm', [`${P}RMSNorm`]), 'weight') : undefined;
    const kNorm = config.qkNorm ? attach(attention.addModule('k_norm', [`${P}RMSNorm`]), 'weight') : undefined;
    const mlp = layer.addModule('mlp', [`${P}MLP`]);
    const gate = linear(mlp, 'gate_proj');
    const up = linear(mlp, 'up_proj');
    const down = linear(mlp, 'down_proj');
    const inputNorm = attach(layer.addModule('input_layernorm', [`${P}RMSNorm`]), 'weight');
    const postNorm = attach(layer.addModule('post_attention_layernorm', [`${P}RMSNorm`]), 'weight');
    layers.push({ layer, inputNorm, attention, q, k, v, o, qNorm, kNorm, postNorm, mlp, gate, up, down });
  }
  const norm = attach(model.addModule('norm', [`${P}RMSNorm`]), 'weight');
  const lmHead = root.addModule('lm_head', ['Linear']);
  lmHead.setParameter('weight', config.tieWordEmbeddings ? params.get('model.embed_tokens.weight')! : params.get('lm_head.weight')!);
  return { root, embed, layers, norm, lmHead };
}
