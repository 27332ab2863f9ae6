import type { LlamaConfig } from './config.js';

/** A weight the forward needs: its Hugging Face name and shape. */
export interface WeightSpec {
  name: string;
  shape: number[];
  /** What initialisation a synthetic model should give it (norm weights sit near 1). */
  kind: 'linear' | 'bias' | 'norm' | 'embedding';
}

/** Weights of decoder layer `i`, in the order the forward uses them. */
export function layerWeightSpecs(config: LlamaConfig, i: number): WeightSpec[] {
  const { hiddenSize: h, intermediateSize: m, numAttentionHeads: nq, numKeyValueHeads: nkv, headDim: d } = config;
  const p = `model.layers.${i}`;
  const specs: WeightSpec[] = [{ name: `${p}.input_layernorm.weight`, shape: [h], kind: 'norm' }];
  const proj = (name: string, out: number, inp: number, bias: boolean): void => {
    specs.push({ name: `${p}.${name}.weight`, shape: [out, inp], kind: 'linear' });
    if (bias) specs.push({ name: `${p}.${name}.bias`, shape: [out], kind: 'bias' });
  };
  proj('self_attn.q_proj', nq * d, h, config.qkvBias);
  proj('self_attn.k_proj', nkv * d, h, config.qkvBias);
  proj('self_attn.v_proj', nkv * d, h, config.qkvBias);
  if (config.qkNorm) {
    specs.push({ name: `${p}.self_attn.q_norm.weight`, shape: [d], kind: 'norm' });
    specs.push({ name: `${p}.self_attn.k_norm.weight`, shape: [d], kind: 'norm' });
  }
  proj('self_attn.o_proj', h, nq * d, config.oBias);
  specs.push({ name: `${p}.post_attention_layernorm.weight`, shape: [h], kind: 'norm' });
  proj('mlp.gate_proj', m, h, config.mlpBias);
  proj('mlp.up_proj', m, h, config.mlpBias);
  proj('mlp.down_proj', h, m, config.mlpBias);
  return specs;
}

/** Every weight of the model; `lm_head.weight` only when embeddings are untied. */
export function llamaWeightSpecs(config: LlamaConfig): WeightSpec[] {
  const specs: WeightSpec[] = [{ name: 'model.embed_tokens.weight', shape: [config.vocabSize, config.hiddenSize], kind: 'embedding' }];
  for (let i = 0; i < config.numHiddenLayers; i++) specs.push(...layerWeightSpecs(config, i));
  specs.push({ name: 'model.norm.weight', shape: [config.hiddenSize], kind: 'norm' });
  if (!config.tieWordEmbeddings) specs.push({ name: 'lm_head.weight', shape: [config.vocabSize, config.hiddenSize], kind: 'linear' });
  return specs;
}

/** Parameter count (tied embeddings counted once). */
export function llamaParameterCount(config: LlamaConfig): number {
  return llamaWeightSpecs(config).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}
