import type { CausalLM } from './causalLM.js';

export interface GenerateOptions {
  maxNewTokens: number;
  /** Generation stops after producing one of these (e.g. EOS). */
  stopTokenIds?: readonly number[];
  /** Called with each new token as it is chosen. */
  onToken?: (id: number) => void;
}

/** Index of the largest value (the first on ties, as torch.argmax). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/**
 * Greedy decoding with a KV cache: the prompt is run once (prefill), then
 * one token per step attends to the cached keys and values. Returns the new
 * tokens (without the prompt).
 */
export async function generateGreedy(model: CausalLM, prompt: readonly number[], options: GenerateOptions): Promise<number[]> {
  if (prompt.length === 0) throw new Error('generate: the prompt is empty (encode it with the tokenizer\'s special tokens to get at least BOS)');
  const stop = new Set(options.stopTokenIds ?? []);
  const cache = model.createKvCache(prompt.length + options.maxNewTokens);
  const out: number[] = [];
  try {
    let ids = Int32Array.from(prompt);
    for (let step = 0; step < options.maxNewTokens; step++) {
      const shape = { batch: 1, seqLen: ids.length, posOffset: cache.length };
      let h = await model.embed(ids, shape);
      for (let i = 0; i < model.numLayers; i++) {
        const next = await model.layerForward(i, h, shape, cache);
        h.dispose();
        h = next;
      }
      cache.advance(ids.length);
      const logits = await model.logits(h, { start: ids.length - 1, count: 1 });
      h.dispose();
      const id = argmax(await logits.readF32());
      logits.dispose();
      out.push(id);
      options.onToken?.(id);
      if (stop.has(id)) break;
      ids = Int32Array.of(id);
    }
  } finally {
    cache.dispose();
  }
  return out;
}
