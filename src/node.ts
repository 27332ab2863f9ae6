/** Node-only entry: everything in the browser-safe API plus Dawn acquisition, files on disk, and the save step. */
import { getModelLoader, registerModelLoader } from './core/model.js';
import type { Hardware } from './gpu/hardware.js';
import { openModelDir } from './io/node/index.js';
import type { CausalLM } from './models/causalLM.js';
import { openCausalLM } from './models/load.js';
import { saveQuantizedModel } from './quantization/save.js';

export * from './index.js';
export { acquireHardware } from './gpu/node/acquire.js';
export * from './io/node/index.js';
export { loadCausalLMFromDir, loadCalibrationData } from './models/node.js';
export { loadTokenizer, loadTokenizedDataset, type DatasetFileOptions } from './data/node.js';
export { saveQuantizedModel, type SaveQuantizedOptions, type SavedModel, type SparsityReport } from './quantization/save.js';

/**
 * Opens a Hugging Face model folder for `oneshot`: the executable model
 * (calibration forwards run on it) with a `save` that writes a
 * compressed-tensors checkpoint (`saveQuantizedModel`) and carries the
 * tokenizer and generation files over. Importing `webgpu-compressor/node`
 * registers it as the default model loader (unless one is registered
 * already), so `oneshot({ model: './my-model', outputDir, … })` works.
 */
export async function loadModelForOneshot(path: string, hardware: Hardware): Promise<CausalLM> {
  const folder = await openModelDir(path);
  let model: CausalLM;
  try {
    model = await openCausalLM(hardware, folder);
  } catch (e) {
    await folder.close();
    throw e;
  }
  model.save = async (outputDir, context) => {
    await saveQuantizedModel(model, outputDir, context, { carryFrom: folder.folder });
  };
  return model;
}

if (!getModelLoader()) registerModelLoader(loadModelForOneshot);
