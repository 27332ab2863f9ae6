import { CheckpointError } from '../errors.js';
import type { FolderSource, OutputFolder } from '../folder.js';
import { stringifySorted } from '../json.js';
import { readJson } from '../source.js';
import type { TensorStore } from '../safetensors/reader.js';
import { openSafetensorsFolder } from '../safetensors/store.js';
import { type ModelConfig, parseModelConfig } from './config.js';

/** The model configuration file of a Hugging Face folder. */
export const CONFIG_FILE = 'config.json';

/**
 * Files carried into an output checkpoint byte for byte: tokenizers,
 * generation settings, chat templates. Weights, config.json and the index
 * are rewritten; anything else (README, training logs) is left behind.
 */
const CARRIED = [
  /^tokenizer(_config)?\.json$/, /^tokenizer\.model$/, /^special_tokens_map\.json$/, /^added_tokens\.json$/,
  /^generation_config\.json$/, /^vocab\.(json|txt)$/, /^merges\.txt$/, /^spiece\.model$/, /^sentencepiece\..*\.model$/,
  /^chat_template\.(jinja|json)$/, /^preprocessor_config\.json$/,
];

/** True for a file {@link copyCarriedFiles} copies unchanged. */
export function isCarriedFile(file: string): boolean {
  return CARRIED.some((re) => re.test(file));
}

/** An opened Hugging Face model folder. */
export interface ModelFolder {
  readonly folder: FolderSource;
  readonly config: ModelConfig;
  /** The weights (single file or shards), read lazily. */
  readonly weights: TensorStore;
  /** Tokenizer / generation files present, to carry over to an output. */
  readonly carriedFiles: readonly string[];
  close(): Promise<void>;
}

/** Reads and parses `config.json`; missing or unparsable is a CheckpointError naming it. */
export async function readModelConfig(folder: FolderSource): Promise<ModelConfig> {
  if (!(await folder.exists(CONFIG_FILE))) throw new CheckpointError(`${folder.name}/${CONFIG_FILE}`, 'is missing: not a Hugging Face model folder?');
  const src = await folder.open(CONFIG_FILE);
  try {
    return parseModelConfig(src.name, await readJson(src, 64 * 1024 * 1024));
  } finally {
    await src.close?.();
  }
}

/** Opens a model folder: config.json, the weights' headers, and the list of carried files. */
export async function openModelFolder(folder: FolderSource): Promise<ModelFolder> {
  const config = await readModelConfig(folder);
  const weights = await openSafetensorsFolder(folder);
  const carriedFiles = (await folder.list()).filter(isCarriedFile);
  return { folder, config, weights, carriedFiles, close: () => weights.close() };
}

/**
 * Copies tokenizer and generation files unchanged from `from` into `out`
 * (streamed in 8 MiB pieces). Returns the names copied.
 */
export async function copyCarriedFiles(from: FolderSource, out: OutputFolder, files?: readonly string[]): Promise<string[]> {
  const names = files ?? (await from.list()).filter(isCarriedFile);
  for (const name of names) {
    const src = await from.open(name);
    const sink = await out.createFile(name);
    try {
      const step = 8 * 1024 * 1024;
      for (let o = 0; o < src.size; o += step) await sink.write(await src.read(o, Math.min(step, src.size - o)));
      await sink.close();
    } catch (e) {
      await sink.abort?.();
      throw e;
    } finally {
      await src.close?.();
    }
  }
  return [...names];
}

/**
 * The output `config.json` text: the input object with `quantization_config`
 * set (or removed when null), serialised with sorted keys and a two-space
 * indent as compressed-tensors' `update_config` and transformers write it.
 */
export function buildOutputConfig(raw: Readonly<Record<string, unknown>>, quantizationConfig: Readonly<Record<string, unknown>> | null): string {
  const out: Record<string, unknown> = { ...raw };
  if (quantizationConfig) out.quantization_config = quantizationConfig;
  else delete out.quantization_config;
  return `${stringifySorted(out)}\n`;
}
