/**
 * The Llama-family causal LM on WebGPU (Llama, Mistral, Qwen2, Qwen3): one
 * forward for all four, driven by {@link LlamaConfig}. Weights are module
 * parameters (src/core/model.ts), loaded from the checkpoint on first use and
 * droppable per layer, so a sequential pipeline holds one layer at a time.
 *
 * Per decoder layer (kernels in src/models/kernels, matmul in src/gpu):
 *   x  = rmsNorm(h)                                   input_layernorm
 *   q,k,v = x·Wᵀ (+b); [q,k = rmsNorm per head]; rope(q, k)
 *   a  = attention(q, k, v)   tiled online softmax, GQA, causal/sliding
 *   o  = a·Woᵀ
 *   h2, x2 = h + o, rmsNorm(h + o)                    fused residual add
 *   d  = down(silu(gate(x2)) · up(x2))
 *   out = h2 + d
 * Hooks (`forward_pre`, `forward`, and `query`/`key`/`value` on the attention
 * module with post-RoPE states) run around each module when registered.
 */
import type { Hardware } from '../../gpu/hardware.js';
import { Tensor } from '../../gpu/tensor.js';
import { matmul } from '../../gpu/kernels/matmul.js';
import { Parameter, type Module } from '../../core/model.js';
import type { CausalLM, KvCache, ModuleKwargs, SequenceShape } from '../causalLM.js';
import { rmsNorm, addRmsNorm } from '../kernels/rmsnorm.js';
import { applyRotaryQK, RopeTable } from '../kernels/rope.js';
import { causalAttention } from '../kernels/attention.js';
import { siluMul, add } from '../kernels/activation.js';
import { embedTokens } from '../kernels/embedding.js';
import { logSoftmaxNll, NO_TARGET } from '../kernels/nll.js';
import type { LlamaConfig } from './config.js';
import { ropeInverseFrequencies } from './rope.js';
import { buildLlamaModules, type LlamaLayerModules, type LlamaModules } from './modules.js';
import { llamaWeightSpecs, type WeightSpec } from './weights.js';
import { fakeQuantizeInput, inputQuantizationOf, inputQuantizationParamsOf } from '../../quantization/inputQuantization.js';

/** Largest logits block the NLL path materialises (bytes); also capped by the binding limit. */
const LOGITS_BLOCK_BYTES = 64 * 1024 * 1024;

/** The f32 weight tensor of a module, loading it if needed. */
async function weightOf(m: Module, local = 'weight'): Promise<Tensor> {
  const p = m.getParameter(local);
  if (!p) throw new Error(`${m.name}.${local}: parameter missing`);
  const t = await p.get();
  if (t.dtype !== 'f32') throw new Error(`${m.name}.${local} is ${t.dtype}; the forward computes with f32 weights (dequantize first)`);
  return t;
}

async function optionalWeight(m: Module, local: string): Promise<Tensor | undefined> {
  return m.getParameter(local) ? weightOf(m, local) : undefined;
}

/** Runs `compute` between a module's forward_pre and forward hooks (`kwargs`: what else the call needs, see HookCall). */
async function withHooks(m: Module, inputs: readonly Tensor[], compute: () => Promise<Tensor> | Tensor, kwargs?: ModuleKwargs): Promise<Tensor> {
  if (m.hasHooks('forward_pre')) await m.callHooks('forward_pre', inputs, undefined, kwargs);
  const out = await compute();
  if (m.hasHooks('forward')) await m.callHooks('forward', inputs, out, kwargs);
  return out;
}

/** KV cache of one sequence: per layer k and v [capacity, kvHeads·headDim]. */
class LlamaKvCache implements KvCache {
  length = 0;
  readonly keys: Tensor[];
  readonly values: Tensor[];

  constructor(hw: Hardware, config: LlamaConfig, readonly capacity: number) {
    const width = config.numKeyValueHeads * config.headDim;
    this.keys = Array.from({ length: config.numHiddenLayers }, () => Tensor.empty(hw, [capacity, width], 'f32'));
    this.values = Array.from({ length: config.numHiddenLayers }, () => Tensor.empty(hw, [capacity, width], 'f32'));
  }

  advance(tokens: number): void {
    if (this.length + tokens > this.capacity) throw new Error(`KV cache overflow: ${this.length} + ${tokens} > ${this.capacity}`);
    this.length += tokens;
  }

  dispose(): void {
    for (const t of [...this.keys, ...this.values]) t.dispose();
  }
}

export class LlamaForCausalLM implements CausalLM {
  readonly architecture: string;
  readonly root: Module;
  readonly defaultSequentialTargets: readonly string[];
  readonly decoderLayers: readonly Module[];
  readonly modules: LlamaModules;
  private readonly rope: RopeTable;
  /** Called by dispose() after the GPU memory is freed (the loader closes the checkpoint files here). */
  onDispose: (() => Promise<void> | void) | undefined;

  /**
   * @param parameterFor creates each weight's Parameter (see {@link buildLlamaModules}).
   * @param rawConfig the parsed config.json, kept for savers.
   */
  constructor(
    readonly hw: Hardware,
    readonly llama: LlamaConfig,
    parameterFor: (spec: WeightSpec) => Parameter,
    readonly config?: Readonly<Record<string, unknown>>,
  ) {
    for (const [what, n] of [['hidden_size', llama.hiddenSize], ['intermediate_size', llama.intermediateSize], ['head_dim', llama.headDim], ['vocab_size', llama.vocabSize]] as const) {
      // Every kernel (and the matmul) loads vec4s along these dimensions.
      if (n % 4 !== 0) throw new Error(`${llama.architecture}: ${what} = ${n} is not a multiple of 4, which the WebGPU kernels require`);
    }
    this.architecture = llama.architecture;
    this.modules = buildLlamaModules(llama, parameterFor);
    this.root = this.modules.root;
    this.decoderLayers = this.modules.layers.map((l) => l.layer);
    this.defaultSequentialTargets = [`${llama.classPrefix}DecoderLayer`];
    this.rope = new RopeTable(hw, ropeInverseFrequencies(llama.headDim, llama.ropeTheta, llama.ropeScaling));
  }

  get embedModule(): Module {
    return this.modules.embed;
  }

  get headModules(): readonly Module[] {
    return [this.modules.norm, this.modules.lmHead];
  }

  get vocabSize(): number {
    return this.llama.vocabSize;
  }

  get hiddenSize(): number {
    return this.llama.hiddenSize;
  }

  get maxActivationWidth(): number {
    return Math.max(this.llama.intermediateSize, this.llama.numAttentionHeads * this.llama.headDim, this.llama.hiddenSize);
  }

  get maxSequenceLength(): number {
    return this.llama.maxPositionEmbeddings;
  }

  get numLayers(): number {
    return this.llama.numHiddenLayers;
  }

  get parameterBytes(): number {
    return llamaWeightSpecs(this.llama).reduce((n, s) => n + 4 * s.shape.reduce((a, b) => a * b, 1), 0);
  }

  private checkRows(hidden: Tensor, shape: SequenceShape, what: string): number {
    const rows = shape.batch * shape.seqLen;
    if (hidden.shape.length !== 2 || hidden.shape[0] !== rows || hidden.shape[1] !== this.llama.hiddenSize) {
      throw new Error(`${what}: hidden states [${hidden.shape.join(', ')}] are not [${shape.batch}·${shape.seqLen}, ${this.llama.hiddenSize}]`);
    }
    const widest = this.maxActivationWidth;
    if (rows * widest * 4 > this.hw.caps.maxStorageBufferBindingSize) {
      throw new Error(`${what}: ${rows} tokens × ${widest} activations exceed one storage binding (${this.hw.caps.maxStorageBufferBindingSize} bytes); use fewer tokens per forward`);
    }
    return rows;
  }

  async embed(ids: Int32Array, shape: SequenceShape): Promise<Tensor> {
    const rows = shape.batch * shape.seqLen;
    if (ids.length !== rows) throw new Error(`embed: ${ids.length} ids for ${shape.batch} sequences of ${shape.seqLen}`);
    for (let i = 0; i < ids.length; i++) {
      if (!(ids[i] >= 0 && ids[i] < this.llama.vocabSize)) throw new Error(`embed: token id ${ids[i]} at position ${i} is outside the vocabulary of ${this.llama.vocabSize}`);
    }
    const idTensor = Tensor.fromData(this.hw, Uint32Array.from(ids), [rows], 'u32');
    const m = this.modules.embed;
    const table = await weightOf(m);
    const out = await withHooks(m, [idTensor], () => embedTokens(this.hw, table, idTensor));
    idTensor.dispose();
    return out;
  }

  /**
   * x·Wᵀ (+ b). With input quantization set on the module (W8A8, FP8,
   * NVFP4…), x is fake-quantized first, as a serving runtime quantizes it;
   * hooks still receive the raw x (llm-compressor's hooks see the module's
   * unquantized input).
   */
  private async linear(m: Module, x: Tensor): Promise<Tensor> {
    const w = await weightOf(m);
    const bias = await optionalWeight(m, 'bias');
    const q = inputQuantizationOf(m);
    if (!q) return withHooks(m, [x], () => matmul(this.hw, x, w, { transposeB: true, bias }));
    const params = await inputQuantizationParamsOf(m, q);
    return withHooks(m, [x], () => {
      const xq = fakeQuantizeInput(this.hw, x, q, params, { name: m.name });
      const y = matmul(this.hw, xq, w, { transposeB: true, bias });
      xq.dispose();
      return y;
    });
  }

  private async norm(m: Module, x: Tensor): Promise<Tensor> {
    const w = await weightOf(m);
    return withHooks(m, [x], () => rmsNorm(this.hw, x, w, this.llama.rmsNormEps));
  }

  private async attention(l: LlamaLayerModules, index: number, x: Tensor, shape: SequenceShape, cache?: LlamaKvCache): Promise<Tensor> {
    const c = this.llama;
    const rows = shape.batch * shape.seqLen;
    const posOffset = shape.posOffset ?? 0;
    return withHooks(l.attention, [x], async () => {
      let q = await this.linear(l.q, x);
      let k = await this.linear(l.k, x);
      const v = await this.linear(l.v, x);
      if (l.qNorm && l.kNorm) {
        const qn = await this.norm(l.qNorm, q);
        const kn = await this.norm(l.kNorm, k);
        q.dispose();
        k.dispose();
        q = qn;
        k = kn;
      }
      applyRotaryQK(this.hw, q, k, this.rope, { rows, qHeads: c.numAttentionHeads, kHeads: c.numKeyValueHeads, seqLen: shape.seqLen, posOffset });
      if (l.attention.hasHooks('query')) await l.attention.callHooks('query', [q]);
      if (l.attention.hasHooks('key')) await l.attention.callHooks('key', [k]);
      if (l.attention.hasHooks('value')) await l.attention.callHooks('value', [v]);
      let keys = k;
      let values = v;
      let kvLen = shape.seqLen;
      if (cache) {
        if (shape.batch !== 1) throw new Error('KV-cached forward runs one sequence at a time');
        if (posOffset !== cache.length) throw new Error(`KV cache holds ${cache.length} tokens but the forward starts at position ${posOffset}`);
        if (posOffset + shape.seqLen > cache.capacity) throw new Error(`KV cache of ${cache.capacity} tokens cannot take ${shape.seqLen} more after ${posOffset}`);
        const rowBytes = c.numKeyValueHeads * c.headDim * 4;
        this.hw.batcher.copy(k.buffer, 0, cache.keys[index].buffer, posOffset * rowBytes, shape.seqLen * rowBytes);
        this.hw.batcher.copy(v.buffer, 0, cache.values[index].buffer, posOffset * rowBytes, shape.seqLen * rowBytes);
        keys = cache.keys[index];
        values = cache.values[index];
        kvLen = posOffset + shape.seqLen;
      } else if (posOffset !== 0) {
        throw new Error('a forward starting past position 0 needs the KV cache of the earlier positions');
      }
      // Keys are indexed from 0 in their tensor; a cache's tail past kvLen is never read.
      const a = causalAttention(this.hw, q, keys, values, {
        batch: shape.batch, seqLen: shape.seqLen, kvLen, qHeads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads, headDim: c.headDim,
        window: c.slidingWindows[index],
      });
      q.dispose();
      k.dispose();
      v.dispose();
      const o = await this.linear(l.o, a);
      a.dispose();
      return o;
    }, { shape });
  }

  /** down(silu(gate(x)) · up(x)) with the MLP's hooks. */
  private async mlp(l: LlamaLayerModules, x: Tensor): Promise<Tensor> {
    return withHooks(l.mlp, [x], async () => {
      const g = await this.linear(l.gate, x);
      const u = await this.linear(l.up, x);
      const m = siluMul(this.hw, g, u);
      g.dispose();
      u.dispose();
      const down = await this.linear(l.down, m);
      m.dispose();
      return down;
    });
  }

  async layerForward(index: number, hidden: Tensor, shape: SequenceShape, cache?: KvCache): Promise<Tensor> {
    const l = this.modules.layers[index];
    if (!l) throw new Error(`layerForward: no layer ${index} (the model has ${this.numLayers})`);
    this.checkRows(hidden, shape, l.layer.name);
    if (cache && !(cache instanceof LlamaKvCache)) throw new Error('layerForward: the KV cache was not created by this model');
    const eps = this.llama.rmsNormEps;
    return withHooks(l.layer, [hidden], async () => {
      const x = await this.norm(l.inputNorm, hidden);
      const o = await this.attention(l, index, x, shape, cache);
      x.dispose();
      // Fused residual add + norm, unless a pre-hook of the norm must see its input first.
      let h2: Tensor;
      let x2: Tensor;
      const postW = await weightOf(l.postNorm);
      if (l.postNorm.hasHooks('forward_pre')) {
        h2 = add(this.hw, hidden, o);
        x2 = await this.norm(l.postNorm, h2);
      } else {
        const fused = addRmsNorm(this.hw, hidden, o, postW, eps);
        h2 = fused.sum;
        x2 = fused.normed;
        if (l.postNorm.hasHooks('forward')) await l.postNorm.callHooks('forward', [h2], x2);
      }
      o.dispose();
      const d = await this.mlp(l, x2);
      x2.dispose();
      const out = add(this.hw, h2, d);
      h2.dispose();
      d.dispose();
      return out;
    }, { shape });
  }

  /** The decoder layer owning `m` and its index, if any. */
  private layerOf(m: Module): { l: LlamaLayerModules; index: number } | undefined {
    const index = this.modules.layers.findIndex((l) => m === l.layer || m.name.startsWith(l.layer.name + '.'));
    return index < 0 ? undefined : { l: this.modules.layers[index], index };
  }

  canRunModule(m: Module): boolean {
    const found = this.layerOf(m);
    if (!found) return false;
    const { l } = found;
    return m === l.layer || m === l.attention || m === l.mlp || m.isA('Linear') || m === l.inputNorm || m === l.postNorm;
  }

  async moduleForward(m: Module, inputs: readonly Tensor[], kwargs?: ModuleKwargs): Promise<Tensor> {
    const found = this.layerOf(m);
    if (!found || !this.canRunModule(m)) {
      throw new Error(`moduleForward: ${m.name || 'the root'} (${m.classNames[0]}) cannot run on its own; supported: a decoder layer, its self_attn, mlp, norms and Linear modules`);
    }
    const { l, index } = found;
    const x = inputs[0];
    if (inputs.length !== 1 || !x || x.shape.length !== 2) throw new Error(`moduleForward(${m.name}): expected one 2-D input [tokens, features]`);
    if (m === l.layer || m === l.attention) {
      const shape = kwargs?.shape;
      if (!shape) throw new Error(`moduleForward(${m.name}): the sequence shape (kwargs.shape) is required for attention`);
      this.checkRows(x, shape, m.name);
      return m === l.layer ? this.layerForward(index, x, shape) : this.attention(l, index, x, shape);
    }
    if (m === l.mlp) return this.mlp(l, x);
    if (m === l.inputNorm || m === l.postNorm) return this.norm(m, x);
    return this.linear(m, x);
  }

  /** model.norm over the given rows (a copy when it is a sub-range). */
  private async finalNorm(hidden: Tensor, start: number, count: number): Promise<Tensor> {
    let x = hidden;
    if (start !== 0 || count !== hidden.shape[0]) {
      const H = this.llama.hiddenSize;
      x = Tensor.empty(this.hw, [count, H], 'f32');
      this.hw.batcher.copy(hidden.buffer, start * H * 4, x.buffer, 0, count * H * 4);
    }
    const n = await this.norm(this.modules.norm, x);
    if (x !== hidden) x.dispose();
    return n;
  }

  async logits(hidden: Tensor, rows?: { start: number; count: number }): Promise<Tensor> {
    const start = rows?.start ?? 0;
    const count = rows?.count ?? hidden.shape[0];
    if (start < 0 || count < 1 || start + count > hidden.shape[0]) throw new Error(`logits: rows [${start}, ${start + count}) outside [0, ${hidden.shape[0]})`);
    if (count * this.vocabSize * 4 > this.hw.caps.maxStorageBufferBindingSize) throw new Error(`logits: ${count} rows × ${this.vocabSize} exceed one storage binding; ask for fewer rows`);
    const x = await this.finalNorm(hidden, start, count);
    const y = await this.linear(this.modules.lmHead, x);
    x.dispose();
    return y;
  }

  async nextTokenNll(hidden: Tensor, ids: Int32Array, shape: SequenceShape): Promise<Tensor> {
    const rows = shape.batch * shape.seqLen;
    if (ids.length !== rows || hidden.shape[0] !== rows) throw new Error(`nextTokenNll: ${ids.length} ids and ${hidden.shape[0]} hidden rows for ${shape.batch}×${shape.seqLen}`);
    const targets = new Uint32Array(rows);
    for (let r = 0; r < rows; r++) targets[r] = (r + 1) % shape.seqLen === 0 ? NO_TARGET : ids[r + 1];
    const targetTensor = Tensor.fromData(this.hw, targets, [rows], 'u32');
    const nll = Tensor.empty(this.hw, [rows], 'f32');
    const block = Math.max(1, Math.floor(Math.min(LOGITS_BLOCK_BYTES, this.hw.caps.maxStorageBufferBindingSize) / (this.vocabSize * 4)));
    for (let start = 0; start < rows; start += block) {
      const count = Math.min(block, rows - start);
      const logits = await this.logits(hidden, { start, count });
      logSoftmaxNll(this.hw, logits, targetTensor, nll, start);
      logits.dispose();
    }
    targetTensor.dispose();
    return nll;
  }

  createKvCache(capacity: number): KvCache {
    return new LlamaKvCache(this.hw, this.llama, capacity);
  }

  releaseLayer(index: number): void {
    for (const m of this.decoderLayers[index].modules()) for (const p of m.parameters.values()) p.release();
  }

  releaseWeights(): void {
    for (const [, p] of this.root.namedParameters()) p.release();
  }

  async dispose(): Promise<void> {
    for (const [, p] of this.root.namedParameters()) p.dispose();
    this.rope.dispose();
    await this.onDispose?.();
  }
}
