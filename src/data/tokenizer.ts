import { Tokenizer } from '@huggingface/tokenizers';

/** Text ⇄ token ids for one model, built from its `tokenizer.json`. */
export interface TextTokenizer {
  /**
   * Token ids of `text`. With `addSpecialTokens` (the default, as in
   * transformers) the tokenizer's post-processor adds what the model was
   * trained with — for Llama/stories260K a leading BOS.
   */
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  /** Text of `ids`; special tokens are dropped unless `skipSpecialTokens` is false. */
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /** Id of a token string, or undefined. */
  tokenToId(token: string): number | undefined;
  /** Number of ids the tokenizer can produce (vocabulary plus added tokens). */
  readonly vocabSize: number;
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
}

/** Raised for an unreadable or unsupported tokenizer definition. */
export class TokenizerError extends Error {
  override name = 'TokenizerError';
}

function tokenName(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

/**
 * Builds a tokenizer from the parsed (or raw text of) `tokenizer.json` and,
 * optionally, `tokenizer_config.json`. Browser-safe: it takes data, not paths
 * (`loadTokenizer` in src/data/node.ts reads a model folder). `source` names
 * the origin in errors.
 */
export function createTokenizer(tokenizerJson: unknown, tokenizerConfig: unknown = {}, source = 'tokenizer.json'): TextTokenizer {
  let json = tokenizerJson;
  if (typeof json === 'string') {
    try {
      json = JSON.parse(json);
    } catch (e) {
      throw new TokenizerError(`${source}: not valid JSON (${(e as Error).message})`);
    }
  }
  if (!json || typeof json !== 'object' || !('model' in json)) throw new TokenizerError(`${source}: not a Hugging Face tokenizer.json (no "model" key)`);
  const config = (tokenizerConfig && typeof tokenizerConfig === 'object' ? tokenizerConfig : {}) as Record<string, unknown>;
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json, config);
  } catch (e) {
    throw new TokenizerError(`${source}: ${(e as Error).message}`);
  }
  const vocab = tok.get_vocab(true);
  let maxId = -1;
  for (const id of vocab.values()) maxId = Math.max(maxId, id);
  const idOf = (key: string): number | undefined => {
    const name = tokenName(config[key]);
    return name === undefined ? undefined : tok.token_to_id(name);
  };
  return {
    encode: (text, options = {}) => tok.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids,
    decode: (ids, options = {}) => tok.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? true }),
    tokenToId: (t) => tok.token_to_id(t),
    vocabSize: maxId + 1,
    bosTokenId: idOf('bos_token'),
    eosTokenId: idOf('eos_token'),
  };
}
