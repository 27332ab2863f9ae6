/** Tokenization, datasets, calibration sampling and the perplexity protocol (browser-safe). */
export { createTokenizer, TokenizerError, type TextTokenizer } from './tokenizer.js';
export { splitDocuments, parseJsonl, parseTokenIds, tokenizeDocuments, tokenizeDataset, DatasetError, type DatasetInput, type JsonlRecord } from './dataset.js';
export { drawCalibrationSamples, concatenatedWindows, type CalibrationOptions } from './calibration.js';
export { perplexityWindows, PerplexityAccumulator, type PerplexityResult } from './perplexity.js';
export { seededRandom, shuffledIndices } from './random.js';
