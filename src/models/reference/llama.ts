/**
 * Plain-TypeScript float64 forward of the Llama family (Llama, Mistral, Qwen2,
 * Qwen3): the specification the WebGPU forward is tested against. Short,
 * obvious and slow on purpose; every intermediate is a Float64Array.
 *
 * Mirrors transformers' modeling_{llama,mistral,qwen2,qwen3}.py in eval mode:
 * embeddings → per layer [RMSNorm → q/k/v (+bias) → (q/k RMSNorm per head) →
 * RoPE (rotate_half) → causal GQA softmax(q·kᵀ/√d)·v → o_proj → residual →
 * RMSNorm → down(silu(gate)·up) → residual] → RMSNorm → lm_head.
 */
import type { LlamaConfig } from '../llama/config.js';
import { llamaWeightSpecs } from '../llama/weights.js';
import { ropeInverseFrequencies } from '../llama/rope.js';

/** Looks up a weight's values by its Hugging Face name (row-major, the spec's shape). */
export type HostWeightLookup = (name: string) => Float32Array | Float64Array;

/**
 * Optional transform of a Linear's input before its matmul (input-activation
 * fake quantization): receives the module name (`model.layers.0.mlp.up_proj`,
 * `lm_head`) and x [rows, cols]; returns the values to multiply, or
 * undefined to leave x as it is.
 */
export type LinearInputTransform = (module: string, x: Float64Array, rows: number, cols: number) => Float64Array | undefined;

export class LlamaReference {
  private readonly w = new Map<string, Float64Array>();
  private readonly invFreq: Float64Array;

  constructor(readonly config: LlamaConfig, weights: HostWeightLookup, private readonly linearInput?: LinearInputTransform) {
    for (const spec of llamaWeightSpecs(config)) {
      const data = weights(spec.name);
      const n = spec.shape.reduce((a, b) => a * b, 1);
      if (data.length !== n) throw new Error(`reference: ${spec.name} has ${data.length} values, expected [${spec.shape.join(', ')}]`);
      this.w.set(spec.name, Float64Array.from(data));
    }
    this.invFreq = ropeInverseFrequencies(config.headDim, config.ropeTheta, config.ropeScaling);
  }

  /** A Linear's input after the optional transform. */
  private input(module: string, x: Float64Array, rows: number, cols: number): Float64Array {
    return this.linearInput?.(module, x, rows, cols) ?? x;
  }

  private get(name: string): Float64Array {
    const v = this.w.get(name);
    if (!v) throw new Error(`reference: missing weight ${name}`);
    return v;
  }

  /** Hidden states after the final norm, [T, hidden]. */
  finalHidden(ids: ArrayLike<number>): Float64Array {
    const c = this.config;
    const T = ids.length;
    const H = c.hiddenSize;
    const emb = this.get('model.embed_tokens.weight');
    const h = new Float64Array(T * H);
    for (let t = 0; t < T; t++) {
      const id = ids[t];
      if (!(id >= 0 && id < c.vocabSize)) throw new Error(`reference: token id ${id} outside the vocabulary of ${c.vocabSize}`);
      h.set(emb.subarray(id * H, (id + 1) * H), t * H);
    }
    for (let l = 0; l < c.numHiddenLayers; l++) this.layer(l, h, T);
    return rmsNorm(h, T, H, this.get('model.norm.weight'), c.rmsNormEps);
  }

  /** Logits [T, vocab]. */
  logits(ids: ArrayLike<number>): Float64Array {
    const c = this.config;
    const x = this.finalHidden(ids);
    const head = this.get(c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
    return linear(this.input('lm_head', x, ids.length, c.hiddenSize), ids.length, c.hiddenSize, head, c.vocabSize);
  }

  /**
   * Negative log-likelihood of each next token: entry t-1 is
   * -log p(ids[t] | ids[0..t-1]) for t = 1..T-1 (natural log).
   */
  nextTokenNll(ids: ArrayLike<number>): Float64Array {
    const V = this.config.vocabSize;
    const logits = this.logits(ids);
    const T = ids.length;
    const out = new Float64Array(Math.max(0, T - 1));
    for (let t = 0; t + 1 < T; t++) {
      const row = logits.subarray(t * V, (t + 1) * V);
      let m = -Infinity;
      for (let v = 0; v < V; v++) m = Math.max(m, row[v]);
      let s = 0;
      for (let v = 0; v < V; v++) s += Math.exp(row[v] - m);
      out[t] = m + Math.log(s) - row[ids[t + 1]];
    }
    return out;
  }

  /** Greedy decoding: appends `maxNewTokens` argmax tokens (stops early at `stopIds`). */
  generateGreedy(prompt: readonly number[], maxNewTokens: number, stopIds: readonly number[] = []): number[] {
    const ids = [...prompt];
    const V = this.config.vocabSize;
    for (let n = 0; n < maxNewTokens; n++) {
      const x = this.finalHidden(ids);
      const H = this.config.hiddenSize;
      const last = x.subarray((ids.length - 1) * H, ids.length * H);
      const head = this.get(this.config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
      const logits = linear(this.input('lm_head', last, 1, H), 1, H, head, V);
      let best = 0;
      for (let v = 1; v < V; v++) if (logits[v] > logits[best]) best = v;
      ids.push(best);
      if (stopIds.includes(best)) break;
    }
    return ids.slice(prompt.length);
  }

  private layer(l: number, h: Float64Array, T: number): void {
    const c = this.config;
    const H = c.hiddenSize;
    const D = c.headDim;
    const nq = c.numAttentionHeads;
    const nkv = c.numKeyValueHeads;
    const p = `model.layers.${l}`;
    const bias = (name: string, on: boolean): Float64Array | undefined => (on ? this.get(`${p}.${name}.bias`) : undefined);

    const x = rmsNorm(h, T, H, this.get(`${p}.input_layernorm.weight`), c.rmsNormEps);
    let q = linear(this.input(`${p}.self_attn.q_proj`, x, T, H), T, H, this.get(`${p}.self_attn.q_proj.weight`), nq * D, bias('self_attn.q_proj', c.qkvBias));
    let k = linear(this.input(`${p}.self_attn.k_proj`, x, T, H), T, H, this.get(`${p}.self_attn.k_proj.weight`), nkv * D, bias('self_attn.k_proj', c.qkvBias));
    const v = linear(this.input(`${p}.self_attn.v_proj`, x, T, H), T, H, this.get(`${p}.self_attn.v_proj.weight`), nkv * D, bias('self_attn.v_proj', c.qkvBias));
    if (c.qkNorm) {
      q = rmsNorm(q, T * nq, D, this.get(`${p}.self_attn.q_norm.weight`), c.rmsNormEps);
      k = rmsNorm(k, T * nkv, D, this.get(`${p}.self_attn.k_norm.weight`), c.rmsNormEps);
    }
    applyRope(q, T, nq, D, this.invFreq);
    applyRope(k, T, nkv, D, this.invFreq);
    const attn = causalAttention(q, k, v, T, nq, nkv, D, c.slidingWindows[l]);
    const o = linear(this.input(`${p}.self_attn.o_proj`, attn, T, nq * D), T, nq * D, this.get(`${p}.self_attn.o_proj.weight`), H, bias('self_attn.o_proj', c.oBias));
    for (let i = 0; i < h.length; i++) h[i] += o[i];

    const x2 = rmsNorm(h, T, H, this.get(`${p}.post_attention_layernorm.weight`), c.rmsNormEps);
    const M = c.intermediateSize;
    const g = linear(this.input(`${p}.mlp.gate_proj`, x2, T, H), T, H, this.get(`${p}.mlp.gate_proj.weight`), M, bias('mlp.gate_proj', c.mlpBias));
    const u = linear(this.input(`${p}.mlp.up_proj`, x2, T, H), T, H, this.get(`${p}.mlp.up_proj.weight`), M, bias('mlp.up_proj', c.mlpBias));
    for (let i = 0; i < g.length; i++) g[i] = (g[i] / (1 + Math.exp(-g[i]))) * u[i];
    const d = linear(this.input(`${p}.mlp.down_proj`, g, T, M), T, M, this.get(`${p}.mlp.down_proj.weight`), H, bias('mlp.down_proj', c.mlpBias));
    for (let i = 0; i < h.length; i++) h[i] += d[i];
  }
}

/** y[rows, out] = x[rows, in] · Wᵀ (+ b), W stored [out, in]. */
export function linear(x: Float64Array, rows: number, inF: number, w: Float64Array, outF: number, b?: Float64Array): Float64Array {
  const y = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++) {
    const xo = r * inF;
    for (let o = 0; o < outF; o++) {
      const wo = o * inF;
      let s = 0;
      for (let i = 0; i < inF; i++) s += x[xo + i] * w[wo + i];
      y[r * outF + o] = b ? s + b[o] : s;
    }
  }
  return y;
}

/** x / sqrt(mean(x²) + eps) · weight, per row of length `n`. */
export function rmsNorm(x: Float64Array, rows: number, n: number, weight: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[r * n + i] ** 2;
    const inv = 1 / Math.sqrt(ss / n + eps);
    for (let i = 0; i < n; i++) y[r * n + i] = x[r * n + i] * inv * weight[i];
  }
  return y;
}

/**
 * In-place RoPE with transformers' rotate_half pairing: element i of a head
 * rotates with element i + d/2. `x` is [T, heads, d]; position = row index
 * plus `offset`.
 */
export function applyRope(x: Float64Array, T: number, heads: number, d: number, invFreq: Float64Array, offset = 0): void {
  const half = d / 2;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * d;
      for (let i = 0; i < half; i++) {
        const a = (t + offset) * invFreq[i];
        const c = Math.cos(a);
        const s = Math.sin(a);
        const x1 = x[base + i];
        const x2 = x[base + i + half];
        x[base + i] = x1 * c - x2 * s;
        x[base + i + half] = x2 * c + x1 * s;
      }
    }
  }
}

/**
 * Causal grouped-query attention: q [T, nq, d], k/v [T, nkv, d]; query head h
 * reads kv head h / (nq / nkv). A sliding window admits keys with t - j < window.
 */
export function causalAttention(q: Float64Array, k: Float64Array, v: Float64Array, T: number, nq: number, nkv: number, d: number, window: number | null): Float64Array {
  const out = new Float64Array(T * nq * d);
  const group = nq / nkv;
  const scale = 1 / Math.sqrt(d);
  const scores = new Float64Array(T);
  for (let h = 0; h < nq; h++) {
    const kh = Math.floor(h / group);
    for (let t = 0; t < T; t++) {
      const qo = (t * nq + h) * d;
      const j0 = window === null ? 0 : Math.max(0, t - window + 1);
      let m = -Infinity;
      for (let j = j0; j <= t; j++) {
        const ko = (j * nkv + kh) * d;
        let s = 0;
        for (let i = 0; i < d; i++) s += q[qo + i] * k[ko + i];
        scores[j] = s * scale;
        m = Math.max(m, scores[j]);
      }
      let sum = 0;
      for (let j = j0; j <= t; j++) {
        scores[j] = Math.exp(scores[j] - m);
        sum += scores[j];
      }
      for (let j = j0; j <= t; j++) {
        const p = scores[j] / sum;
        const vo = (j * nkv + kh) * d;
        for (let i = 0; i < d; i++) out[qo + i] += p * v[vo + i];
      }
    }
  }
  return out;
}
