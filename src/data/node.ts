/** Node-only helpers: read a model folder's tokenizer and dataset files from disk. */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createTokenizer, TokenizerError, type TextTokenizer } from './tokenizer.js';
import { tokenizeDataset, DatasetError } from './dataset.js';

/** Reads `tokenizer.json` (and `tokenizer_config.json` when present) from a model folder. */
export async function loadTokenizer(modelDir: string): Promise<TextTokenizer> {
  const file = join(modelDir, 'tokenizer.json');
  if (!existsSync(file)) throw new TokenizerError(`${file}: not found (the model folder needs a tokenizer.json)`);
  const json = await readFile(file, 'utf8');
  const cfgFile = join(modelDir, 'tokenizer_config.json');
  let cfg: unknown = {};
  if (existsSync(cfgFile)) {
    try {
      cfg = JSON.parse(await readFile(cfgFile, 'utf8'));
    } catch (e) {
      throw new TokenizerError(`${cfgFile}: not valid JSON (${(e as Error).message})`);
    }
  }
  return createTokenizer(json, cfg, file);
}

export interface DatasetFileOptions {
  docSeparator?: string;
  textField?: string;
}

/** Reads and tokenizes a dataset file (plain text, `.jsonl`, or pre-tokenized `.json`). */
export async function loadTokenizedDataset(path: string, tokenizer: TextTokenizer, options: DatasetFileOptions = {}): Promise<number[][]> {
  if (!existsSync(path)) throw new DatasetError(`${path}: dataset file not found`);
  const content = await readFile(path, 'utf8');
  return tokenizeDataset({ content, file: path, docSeparator: options.docSeparator, textField: options.textField }, tokenizer);
}
