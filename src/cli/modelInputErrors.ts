import { CheckpointError } from '../io/errors.js';
import { ModelConfigError } from '../models/llama/config.js';
import { DatasetError } from '../data/dataset.js';
import { TokenizerError } from '../data/tokenizer.js';

/**
 * Runs a command that reads a model and text: bad input (missing files,
 * unsupported config, bad dataset or tokenizer) exits with 2 and a message
 * naming it; anything else is a bug and propagates.
 */
export async function exitOnModelInputError(command: string, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof CheckpointError || e instanceof ModelConfigError || e instanceof DatasetError || e instanceof TokenizerError) {
      console.error(`wgc ${command}: ${e.message}`);
      return 2;
    }
    throw e;
  }
}
