import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `../shared` next to the repository (CI has it; a bare clone may not). */
export const sharedDir = path.resolve(repoRoot, '..', 'shared');

/** The stories260K model and the TinyStories calibration and evaluation texts. */
export interface StoriesFixture {
  readonly modelDir: string;
  readonly calibFile: string;
  readonly evalFile: string;
  /** All three exist; when not, a warning naming `what` was printed and the tests should skip. */
  readonly present: boolean;
  /** WGC_STORIES_TABLE=1: run the README table's full protocol instead of the quick check. */
  readonly full: boolean;
}

/** Locates the stories260K fixture for the tests of `what`, warning once when it is absent. */
export function storiesFixture(what: string): StoriesFixture {
  const modelDir = path.join(sharedDir, 'models', 'stories260K');
  const calibFile = path.join(sharedDir, 'data', 'tinystories-valid-calib.txt');
  const evalFile = path.join(sharedDir, 'data', 'tinystories-valid-eval.txt');
  const present = existsSync(path.join(modelDir, 'model.safetensors')) && existsSync(calibFile) && existsSync(evalFile);
  if (!present) console.warn(`skipping stories260K ${what} tests: ${modelDir}, ${calibFile} or ${evalFile} not found (../shared is absent)`);
  return { modelDir, calibFile, evalFile, present, full: process.env.WGC_STORIES_TABLE === '1' };
}
