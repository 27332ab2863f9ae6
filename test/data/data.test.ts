import { describe, it, expect } from 'vitest';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { splitDocuments, parseJsonl, parseTokenIds, tokenizeDataset, DatasetError } from '../../src/data/dataset.js';
import { drawCalibrationSamples, concatenatedWindows } from '../../src/data/calibration.js';
import { PerplexityAccumulator, perplexityWindows } from '../../src/data/perplexity.js';
import { createTokenizer, TokenizerError, type TextTokenizer } from '../../src/data/tokenizer.js';
import { loadTokenizer } from '../../src/data/node.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const modelDir = path.resolve(repoRoot, '..', 'shared', 'models', 'stories260K');
const haveModel = existsSync(path.join(modelDir, 'tokenizer.json'));
if (!haveModel) console.warn(`skipping tokenizer tests: ${modelDir} not found (../shared is absent)`);

/** A character-level stand-in tokenizer: BOS = 1, each char its code point + 10. */
const charTokenizer: TextTokenizer = {
  encode: (text, o = {}) => [...((o.addSpecialTokens ?? true) ? [1] : []), ...[...text].map((c) => c.codePointAt(0)! + 10)],
  decode: (ids) => ids.filter((i) => i >= 10).map((i) => String.fromCodePoint(i - 10)).join(''),
  tokenToId: () => undefined,
  vocabSize: 100000,
  bosTokenId: 1,
  eosTokenId: 2,
};

describe('documents', () => {
  it('splits on separator lines, strips, drops empty documents, tolerates CRLF', () => {
    const text = '  first story\nline two \n<|endoftext|>\n\n<|endoftext|>\r\nsecond\r\n<|endoftext|>\nthird has <|endoftext|> inline\n';
    expect(splitDocuments(text, '<|endoftext|>')).toEqual(['first story\nline two', 'second', 'third has <|endoftext|> inline']);
    expect(splitDocuments(' whole file \n', undefined)).toEqual(['whole file']);
    expect(splitDocuments('   ', undefined)).toEqual([]);
  });

  it('parses JSONL text fields and pre-tokenized records, naming the bad line', () => {
    expect(parseJsonl('{"text":"a"}\n\n{"text":"b","x":1}\n{"input_ids":[1,2]}\n')).toEqual([{ text: 'a' }, { text: 'b' }, { ids: [1, 2] }]);
    expect(parseJsonl('{"content":"a"}', 'content')).toEqual([{ text: 'a' }]);
    expect(() => parseJsonl('{"text":"a"}\n{"body":"b"}', 'text', 'd.jsonl')).toThrow(/d\.jsonl:2: no string field "text" \(fields: body\)/);
    expect(() => parseJsonl('{"text":"a"}\nnot json', 'text', 'd.jsonl')).toThrow(/d\.jsonl:2: not valid JSON/);
    expect(() => parseJsonl('{"input_ids":[1,-2]}', 'text', 'd.jsonl')).toThrow(DatasetError);
  });

  it('parses pre-tokenized JSON and checks ids against the vocabulary', () => {
    expect(parseTokenIds('[[1,2,3],[4]]')).toEqual([[1, 2, 3], [4]]);
    expect(parseTokenIds('{"input_ids":[[5]]}')).toEqual([[5]]);
    expect(() => parseTokenIds('{"x":1}', 'ids.json')).toThrow(/ids\.json: expected an array/);
    const small = { ...charTokenizer, vocabSize: 10 };
    expect(() => tokenizeDataset({ content: '[[1,20]]', file: 'ids.json' }, small)).toThrow(/token id 20 is outside the tokenizer's vocabulary of 10/);
  });

  it('tokenizes each document with special tokens', () => {
    const docs = tokenizeDataset({ content: 'ab\n==\n c \n', file: 'x.txt', docSeparator: '==' }, charTokenizer);
    expect(docs).toEqual([[1, 107, 108], [1, 109]]);
    expect(tokenizeDataset({ content: '{"t":"z"}\n', file: 'x.jsonl', textField: 't' }, charTokenizer)).toEqual([[1, 132]]);
  });
});

describe('windows and calibration samples', () => {
  const docs = [[1, 2, 3, 4, 5], [1, 6, 7], [1, 8, 9, 10, 11, 12, 13]];

  it('perplexity windows concatenate documents and drop the tail', () => {
    const w = perplexityWindows(docs, 4);
    expect(w.map((x) => [...x])).toEqual([[1, 2, 3, 4], [5, 1, 6, 7], [1, 8, 9, 10]]);
    expect(concatenatedWindows(docs, 4, 2).length).toBe(2);
    expect(concatenatedWindows(docs, 100).length).toBe(0);
  });

  it('draws the same samples for the same seed, different ones for another', () => {
    const many = Array.from({ length: 50 }, (_, d) => Array.from({ length: 37 }, (_, i) => d * 100 + i));
    const a = drawCalibrationSamples(many, { numSamples: 8, maxSeqLength: 16, seed: 42 });
    const b = drawCalibrationSamples(many, { numSamples: 8, maxSeqLength: 16, seed: 42 });
    const c = drawCalibrationSamples(many, { numSamples: 8, maxSeqLength: 16, seed: 7 });
    expect(a.map((x) => [...x])).toEqual(b.map((x) => [...x]));
    expect(a.map((x) => [...x])).not.toEqual(c.map((x) => [...x]));
    expect(a.every((x) => x.length === 16)).toBe(true);
    // Distinct, non-overlapping windows of the concatenated stream.
    expect(new Set(a.map((x) => x[0])).size).toBe(8);
    const all = concatenatedWindows(many, 16).map((x) => x[0]);
    expect(a.every((x) => all.includes(x[0]))).toBe(true);
  });

  it('documents mode truncates shuffled documents; shortfall returns what exists', () => {
    const s = drawCalibrationSamples(docs, { numSamples: 10, maxSeqLength: 4, seed: 1, mode: 'documents' });
    expect(s.length).toBe(3);
    expect(s.map((x) => [...x]).sort((p, q) => p[1] - q[1])).toEqual([[1, 2, 3, 4], [1, 6, 7], [1, 8, 9, 10]]);
    expect(() => drawCalibrationSamples(docs, { numSamples: 1, maxSeqLength: 1 })).toThrow(/maxSeqLength/);
    expect(() => drawCalibrationSamples(docs, { numSamples: 1, maxSeqLength: 1000 })).toThrow(/fewer than maxSeqLength=1000/);
  });

  it('perplexity accumulates in float64 over all scored tokens', () => {
    const acc = new PerplexityAccumulator();
    acc.addWindow([1, 2, 3]);
    acc.addWindow([0.5, 0.5, 0.5]);
    const r = acc.result();
    expect(r.tokens).toBe(6);
    expect(r.windows).toBe(2);
    expect(r.meanNll).toBeCloseTo(7.5 / 6, 12);
    expect(r.perplexity).toBeCloseTo(Math.exp(7.5 / 6), 12);
    expect(() => acc.addWindow([NaN])).toThrow(/non-finite NLL/);
  });
});

describe.skipIf(!haveModel)('stories260K tokenizer', () => {
  it('adds BOS, round-trips text, and falls back to bytes', async () => {
    const tok = await loadTokenizer(modelDir);
    expect(tok.bosTokenId).toBe(1);
    expect(tok.eosTokenId).toBe(2);
    expect(tok.vocabSize).toBe(512);
    expect(tok.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
    expect(tok.encode('Once upon a time', { addSpecialTokens: false })).toEqual([403, 407, 261, 378]);
    expect(tok.decode(tok.encode('Once upon a time'))).toBe('Once upon a time');
    const odd = 'naïve 日本';
    expect(tok.decode(tok.encode(odd))).toBe(odd);
  });

  it('names the file when tokenizer.json is bad', () => {
    expect(() => createTokenizer('{nope', {}, 'm/tokenizer.json')).toThrow(TokenizerError);
    expect(() => createTokenizer('{"x":1}', {}, 'm/tokenizer.json')).toThrow(/m\/tokenizer\.json: not a Hugging Face tokenizer\.json/);
  });
});
