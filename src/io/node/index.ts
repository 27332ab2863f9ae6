/** Node-only checkpoint I/O: files and folders on disk, atomic output folders. */
import { openSafetensors, type SafetensorsFile, type TensorStore } from '../safetensors/reader.js';
import { openSafetensorsFolder } from '../safetensors/store.js';
import { openModelFolder, type ModelFolder } from '../model/folder.js';
import { FileSource } from './fileSource.js';
import { openNodeFolder } from './folder.js';

export { FileSource, openFileSource } from './fileSource.js';
export { NodeFolder, openNodeFolder } from './folder.js';
export { NodeOutputFolder, writeOutputFolder, type NodeOutputOptions } from './output.js';

/** Opens one `.safetensors` file on disk (header only; tensors are read on demand). */
export async function openSafetensorsFile(path: string): Promise<SafetensorsFile> {
  const src = await FileSource.open(path);
  try {
    return await openSafetensors(src);
  } catch (e) {
    await src.close();
    throw e;
  }
}

/** Opens the weights of a model folder on disk (sharded or single file). */
export async function openSafetensorsDir(path: string): Promise<TensorStore> {
  return openSafetensorsFolder(await openNodeFolder(path));
}

/** Opens a Hugging Face model folder on disk: config.json, weights, tokenizer files. */
export async function openModelDir(path: string): Promise<ModelFolder> {
  return openModelFolder(await openNodeFolder(path));
}
