/**
 * Calibration and evaluation text: plain text split into documents on a
 * separator line, JSONL with a text field, or pre-tokenized ids. Everything
 * here takes file contents, not paths, so it runs in a browser too.
 */
import type { TextTokenizer } from './tokenizer.js';

/** A dataset problem: names the file, line and field. */
export class DatasetError extends Error {
  override name = 'DatasetError';
}

/**
 * Splits `text` into documents at lines equal to `separator` (e.g.
 * `<|endoftext|>`; a trailing `\r` and surrounding spaces are ignored). Each
 * document is stripped; empty ones are dropped. Without a separator the whole
 * text is one document.
 */
export function splitDocuments(text: string, separator?: string): string[] {
  if (separator === undefined || separator === '') {
    const t = text.trim();
    return t ? [t] : [];
  }
  const sep = separator.trim();
  const docs: string[] = [];
  let cur: string[] = [];
  const flush = (): void => {
    const d = cur.join('\n').trim();
    if (d) docs.push(d);
    cur = [];
  };
  for (const line of text.split('\n')) {
    if (line.trim() === sep) flush();
    else cur.push(line.endsWith('\r') ? line.slice(0, -1) : line);
  }
  flush();
  return docs;
}

/** One JSONL record: text under `field`, or pre-tokenized `input_ids`. */
export type JsonlRecord = { text: string } | { ids: number[] };

function idsOf(v: unknown, where: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x) && x >= 0)) throw new DatasetError(`${where}: expected an array of non-negative integer token ids`);
  return v as number[];
}

/**
 * Parses JSONL: each non-empty line is an object with a string `textField`
 * (default `text`) or an `input_ids` array (pre-tokenized).
 */
export function parseJsonl(content: string, textField = 'text', file = 'dataset.jsonl'): JsonlRecord[] {
  const out: JsonlRecord[] = [];
  const lines = content.split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${file}:${i + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new DatasetError(`${where}: not valid JSON (${(e as Error).message})`);
    }
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new DatasetError(`${where}: expected a JSON object per line`);
    const rec = obj as Record<string, unknown>;
    if (typeof rec[textField] === 'string') out.push({ text: rec[textField] as string });
    else if (rec.input_ids !== undefined) out.push({ ids: idsOf(rec.input_ids, `${where}: input_ids`) });
    else throw new DatasetError(`${where}: no string field "${textField}" (fields: ${Object.keys(rec).join(', ') || 'none'}); pick one with --text-field`);
  });
  if (!out.length) throw new DatasetError(`${file}: no records`);
  return out;
}

/**
 * Parses pre-tokenized ids: a JSON array of documents (each an array of ids),
 * or an object whose `input_ids` is such an array.
 */
export function parseTokenIds(content: string, file = 'ids.json'): number[][] {
  let obj: unknown;
  try {
    obj = JSON.parse(content);
  } catch (e) {
    throw new DatasetError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const arr = Array.isArray(obj) ? obj : (obj as { input_ids?: unknown })?.input_ids;
  if (!Array.isArray(arr)) throw new DatasetError(`${file}: expected an array of token-id arrays or {"input_ids": [...]}`);
  return arr.map((d, i) => idsOf(d, `${file}: document ${i}`));
}

/** Encodes each document with the tokenizer's special tokens (e.g. a leading BOS). */
export function tokenizeDocuments(docs: readonly string[], tokenizer: TextTokenizer): number[][] {
  return docs.map((d) => tokenizer.encode(d.trim(), { addSpecialTokens: true }));
}

/** Raw dataset contents and how to read them. */
export interface DatasetInput {
  /** File contents. */
  content: string;
  /** File name: `.jsonl` → JSONL, `.json` → pre-tokenized ids, anything else → plain text. */
  file: string;
  /** Separator line between documents in a plain-text file. */
  docSeparator?: string;
  /** JSONL field holding the text (default `text`). */
  textField?: string;
}

/** Token ids of every document of a dataset file, in file order. */
export function tokenizeDataset(input: DatasetInput, tokenizer: TextTokenizer): number[][] {
  const lower = input.file.toLowerCase();
  let docs: number[][];
  if (lower.endsWith('.jsonl')) {
    docs = parseJsonl(input.content, input.textField, input.file).map((r) => ('ids' in r ? r.ids : tokenizer.encode(r.text.trim(), { addSpecialTokens: true })));
  } else if (lower.endsWith('.json')) {
    docs = parseTokenIds(input.content, input.file);
  } else {
    docs = tokenizeDocuments(splitDocuments(input.content, input.docSeparator), tokenizer);
  }
  docs = docs.filter((d) => d.length > 0);
  if (!docs.length) throw new DatasetError(`${input.file}: no documents`);
  for (const d of docs) {
    for (const id of d) {
      if (id >= tokenizer.vocabSize) throw new DatasetError(`${input.file}: token id ${id} is outside the tokenizer's vocabulary of ${tokenizer.vocabSize}`);
    }
  }
  return docs;
}
