/**
 * A float64 Llama decoder layer split at the modules SmoothQuant and AWQ
 * hook (input_layernorm, self_attn, o_proj, post_attention_layernorm, mlp,
 * down_proj), built from the exported pieces of the model reference
 * (src/models/reference/llama.ts), with weights that can be swapped per call.
 */
import type { LlamaConfig } from '../../src/models/llama/config.js';
import { applyRope, causalAttention, linear, rmsNorm } from '../../src/models/reference/llama.js';
import { ropeInverseFrequencies } from '../../src/models/llama/rope.js';

/** Weights by Hugging Face name (f64 copies; replace entries to change the model). */
export type WeightMap = Map<string, Float64Array>;

export function toWeightMap(weights: Map<string, Float32Array>): WeightMap {
  return new Map([...weights].map(([k, v]) => [k, Float64Array.from(v)]));
}

/** Everything a layer computes on one sequence of T tokens. */
export interface LayerTrace {
  /** input_layernorm output = self_attn input = q/k/v input. */
  x: Float64Array;
  /** Attention output before o_proj (o_proj's input). */
  a: Float64Array;
  /** self_attn output. */
  o: Float64Array;
  /** post_attention_layernorm output = mlp input. */
  x2: Float64Array;
  /** silu(gate) · up (down_proj's input). */
  m: Float64Array;
  /** mlp output. */
  d: Float64Array;
  /** Layer output. */
  out: Float64Array;
}

export class LayerReference {
  private readonly invFreq: Float64Array;

  constructor(readonly config: LlamaConfig, readonly weights: WeightMap) {
    this.invFreq = ropeInverseFrequencies(config.headDim, config.ropeTheta, config.ropeScaling);
  }

  w(name: string): Float64Array {
    const v = this.weights.get(name);
    if (!v) throw new Error(`layer reference: no weight ${name}`);
    return v;
  }

  private bias(name: string): Float64Array | undefined {
    return this.weights.get(`${name}.bias`);
  }

  embed(ids: ArrayLike<number>): Float64Array {
    const H = this.config.hiddenSize;
    const e = this.w('model.embed_tokens.weight');
    const h = new Float64Array(ids.length * H);
    for (let t = 0; t < ids.length; t++) h.set(e.subarray(ids[t] * H, (ids[t] + 1) * H), t * H);
    return h;
  }

  /** self_attn on its input x: returns o_proj's input and the block output; `over` replaces q/k/v/o weights. */
  attention(l: number, x: Float64Array, T: number, over: Partial<Record<'q_proj' | 'k_proj' | 'v_proj' | 'o_proj', ArrayLike<number>>> = {}): { a: Float64Array; o: Float64Array } {
    const c = this.config;
    const p = `model.layers.${l}.self_attn`;
    const W = (n: 'q_proj' | 'k_proj' | 'v_proj' | 'o_proj') => (over[n] ? Float64Array.from(over[n]!) : this.w(`${p}.${n}.weight`));
    const H = c.hiddenSize;
    const D = c.headDim;
    let q = linear(x, T, H, W('q_proj'), c.numAttentionHeads * D, this.bias(`${p}.q_proj`));
    let k = linear(x, T, H, W('k_proj'), c.numKeyValueHeads * D, this.bias(`${p}.k_proj`));
    const v = linear(x, T, H, W('v_proj'), c.numKeyValueHeads * D, this.bias(`${p}.v_proj`));
    if (c.qkNorm) {
      q = rmsNorm(q, T * c.numAttentionHeads, D, this.w(`${p}.q_norm.weight`), c.rmsNormEps);
      k = rmsNorm(k, T * c.numKeyValueHeads, D, this.w(`${p}.k_norm.weight`), c.rmsNormEps);
    }
    applyRope(q, T, c.numAttentionHeads, D, this.invFreq);
    applyRope(k, T, c.numKeyValueHeads, D, this.invFreq);
    const a = causalAttention(q, k, v, T, c.numAttentionHeads, c.numKeyValueHeads, D, c.slidingWindows[l]);
    return { a, o: linear(a, T, c.numAttentionHeads * D, W('o_proj'), H, this.bias(`${p}.o_proj`)) };
  }

  /** mlp on its input x2: returns down_proj's input and the block output; `over` replaces gate/up/down weights. */
  mlp(l: number, x2: Float64Array, T: number, over: Partial<Record<'gate_proj' | 'up_proj' | 'down_proj', ArrayLike<number>>> = {}): { m: Float64Array; d: Float64Array } {
    const c = this.config;
    const p = `model.layers.${l}.mlp`;
    const W = (n: 'gate_proj' | 'up_proj' | 'down_proj') => (over[n] ? Float64Array.from(over[n]!) : this.w(`${p}.${n}.weight`));
    const I = c.intermediateSize;
    const g = linear(x2, T, c.hiddenSize, W('gate_proj'), I, this.bias(`${p}.gate_proj`));
    const u = linear(x2, T, c.hiddenSize, W('up_proj'), I, this.bias(`${p}.up_proj`));
    const m = g.map((v, i) => (v / (1 + Math.exp(-v))) * u[i]);
    return { m, d: linear(m, T, I, W('down_proj'), c.hiddenSize, this.bias(`${p}.down_proj`)) };
  }

  layer(l: number, h: Float64Array, T: number): LayerTrace {
    const c = this.config;
    const H = c.hiddenSize;
    const p = `model.layers.${l}`;
    const x = rmsNorm(h, T, H, this.w(`${p}.input_layernorm.weight`), c.rmsNormEps);
    const { a, o } = this.attention(l, x, T);
    const h2 = h.map((v, i) => v + o[i]);
    const x2 = rmsNorm(h2, T, H, this.w(`${p}.post_attention_layernorm.weight`), c.rmsNormEps);
    const { m, d } = this.mlp(l, x2, T);
    return { x, a, o, x2, m, d, out: h2.map((v, i) => v + d[i]) };
  }
}
