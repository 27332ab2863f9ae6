/**
 * What evaluation, generation and the calibration pipelines need from a
 * decoder-only language model on the GPU, independent of its architecture:
 * the forward split at decoder-layer boundaries, so a pipeline can run one
 * layer over every calibration sample while only that layer's weights are
 * resident.
 */
import type { Tensor } from '../gpu/tensor.js';
import type { Model, Module } from '../core/model.js';

/**
 * How the rows of an activation tensor are laid out: `batch` sequences of
 * `seqLen` tokens each, row-major ([batch·seqLen, hidden]). `posOffset` is
 * the position of the first token of every sequence (non-zero after a KV
 * cache prefix).
 */
export interface SequenceShape {
  readonly batch: number;
  readonly seqLen: number;
  readonly posOffset?: number;
}

/** Keyword arguments a forward passes to module hooks (`HookCall.kwargs`) and `moduleForward` takes back. */
export type ModuleKwargs = {
  /** Layout of the rows (decoder layers and attention blocks need it). */
  readonly shape?: SequenceShape;
};

/** Per-layer key/value cache for incremental decoding of one sequence. */
export interface KvCache {
  /** Tokens already held (the position of the next token). */
  readonly length: number;
  /** Largest number of tokens it can hold. */
  readonly capacity: number;
  /** Marks `tokens` more positions as held, once every layer has appended them. */
  advance(tokens: number): void;
  dispose(): void;
}

export interface CausalLM extends Model {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  /** Widest per-token activation of a layer (the MLP's intermediate size, or the q projection if wider). */
  readonly maxActivationWidth: number;
  readonly numLayers: number;
  /** Positions the model was trained for (`max_position_embeddings`): the default sample length. */
  readonly maxSequenceLength: number;
  /** Decoder layer modules in order (`model.layers.0` …): the default sequential units. */
  readonly decoderLayers: readonly Module[];
  /** The token embedding module (runs before the first layer). */
  readonly embedModule: Module;
  /** Modules run after the last layer: the final norm and lm_head. */
  readonly headModules: readonly Module[];
  /** Bytes of all parameters as the forward holds them (f32). */
  readonly parameterBytes: number;

  /** Token embeddings of `ids` (length batch·seqLen) → hidden states [rows, hidden]. */
  embed(ids: Int32Array, shape: SequenceShape): Promise<Tensor>;
  /**
   * Decoder layer `index` on hidden states [rows, hidden] → new hidden states
   * (the input is left unchanged; the caller owns and disposes both). Runs the
   * active hooks of the layer and its modules. With `cache`, keys and values
   * are appended to it and attention sees the cached prefix.
   */
  layerForward(index: number, hidden: Tensor, shape: SequenceShape, cache?: KvCache): Promise<Tensor>;
  /** Final norm and lm_head: logits [rows, vocab] of the given rows (default all). */
  logits(hidden: Tensor, rows?: { start: number; count: number }): Promise<Tensor>;
  /**
   * Final norm, lm_head and the fused log-softmax NLL, one row block of
   * logits at a time: for each sequence, entry t (t < seqLen − 1) is
   * −log p(ids[t+1] | ids[..t]); the last position of each sequence has no
   * target and reads 0. Returns [rows] on the GPU.
   */
  nextTokenNll(hidden: Tensor, ids: Int32Array, shape: SequenceShape): Promise<Tensor>;
  /** A KV cache for `capacity` tokens of one sequence (batch 1). */
  createKvCache(capacity: number): KvCache;
  /**
   * Runs one submodule of a decoder layer on its own — the layer, its
   * attention block, MLP, norms or a Linear — on the inputs its forward_pre
   * hook saw, with the hook's `kwargs` (AWQ replays parent modules this way).
   * Hooks fire as in a full forward. Optional: models without it cannot
   * serve AWQ.
   */
  moduleForward?(module: Module, inputs: readonly Tensor[], kwargs?: ModuleKwargs): Promise<Tensor>;
  /** Whether `moduleForward` can run `module`. */
  canRunModule?(module: Module): boolean;
  /** Drops the GPU copies of a layer's unmodified weights (they reload from the checkpoint on next use). */
  releaseLayer(index: number): void;
  /** Drops every unmodified weight's GPU copy. */
  releaseWeights(): void;
}

/** Type guard: the model can run forwards (as opposed to a module tree alone). */
export function isCausalLM(model: Model): model is CausalLM {
  const m = model as Partial<CausalLM>;
  return typeof m.layerForward === 'function' && typeof m.embed === 'function' && Array.isArray(m.decoderLayers);
}
