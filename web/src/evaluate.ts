/**
 * The optional evaluate step: perplexity of the original and the compressed
 * model on the user's text, by the same protocol as `wgc eval` (documents
 * concatenated, cut into non-overlapping windows, positions 2..L scored).
 * Both models run through the core's forward; the compressed one is
 * dequantized from the in-page checkpoint as its layers load.
 */
import {
  type FolderSource, type Hardware, type ExecutionCaveat, type PerplexityRun, createTokenizer, tokenizeDataset, perplexityWindows,
  openModelFolder, openCausalLM, evaluatePerplexity, readAllText, TokenizerError,
} from '../../src/index.js';

export interface EvaluateOptions {
  readonly maxSeqLength: number;
  readonly maxWindows: number;
  readonly docSeparator?: string;
}

/** Token windows of `text`, tokenized with the model folder's tokenizer.json. */
export async function tokenWindows(model: FolderSource, text: { content: string; file: string }, options: EvaluateOptions): Promise<Int32Array[]> {
  if (!(await model.exists('tokenizer.json'))) throw new TokenizerError(`${model.name}/tokenizer.json: not found (evaluation needs the model's tokenizer.json)`);
  const json = await readAllText(await model.open('tokenizer.json'));
  let cfg: unknown = {};
  if (await model.exists('tokenizer_config.json')) {
    const raw = await readAllText(await model.open('tokenizer_config.json'));
    try {
      cfg = JSON.parse(raw);
    } catch (e) {
      throw new TokenizerError(`${model.name}/tokenizer_config.json: not valid JSON (${(e as Error).message})`);
    }
  }
  const tokenizer = createTokenizer(json, cfg, `${model.name}/tokenizer.json`);
  const docs = tokenizeDataset({ content: text.content, file: text.file, docSeparator: options.docSeparator || undefined }, tokenizer);
  const windows = perplexityWindows(docs, options.maxSeqLength, options.maxWindows);
  if (!windows.length) throw new Error(`${text.file} has fewer than ${options.maxSeqLength} tokens; lower the window length`);
  return windows;
}

/** Perplexity of the model in `folder` on `windows`. */
export async function perplexityOf(
  hw: Hardware,
  folder: FolderSource,
  windows: readonly Int32Array[],
  onProgress?: (done: number, total: number) => void,
): Promise<PerplexityRun & { caveats: string[] }> {
  const model = await openModelFolder(folder);
  const caveats: ExecutionCaveat[] = [];
  let lm;
  try {
    lm = await openCausalLM(hw, model, caveats);
  } catch (e) {
    await model.close();
    throw e;
  }
  try {
    const run = await evaluatePerplexity(lm, windows, { onProgress });
    return { ...run, caveats: caveats.map((c) => c.message) };
  } finally {
    await lm.dispose?.();
  }
}
