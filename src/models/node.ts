/** Node-only entry points of model execution: models and calibration data from paths on disk. */
import type { Hardware } from '../gpu/hardware.js';
import { openModelDir } from '../io/node/index.js';
import { loadTokenizer, loadTokenizedDataset, type DatasetFileOptions } from '../data/node.js';
import { openCausalLM, type ExecutionCaveat } from './load.js';
import type { CausalLM } from './causalLM.js';
import type { CalibrationData } from './calibrationData.js';

/**
 * Opens a Hugging Face model folder for execution. Its signature matches the
 * core's `ModelLoader`, so `registerModelLoader((p, hw) => loadCausalLMFromDir(p, hw))`
 * makes `oneshot` run calibration forwards on the loaded model.
 */
export async function loadCausalLMFromDir(path: string, hw: Hardware, caveats?: ExecutionCaveat[]): Promise<CausalLM> {
  return openCausalLM(hw, await openModelDir(path), caveats);
}

/**
 * Tokenizes a calibration dataset file with the model's tokenizer into the
 * `{ documents }` form the calibration pipelines draw samples from (with the
 * run's numCalibrationSamples, maxSeqLength and seed).
 */
export async function loadCalibrationData(modelDir: string, datasetPath: string, options: DatasetFileOptions & { mode?: 'windows' | 'documents' } = {}): Promise<CalibrationData> {
  const tokenizer = await loadTokenizer(modelDir);
  const documents = await loadTokenizedDataset(datasetPath, tokenizer, options);
  return { documents, mode: options.mode };
}
