import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeOutputFolder } from '../../io/node/index.js';
import { DEMO_LLAMA, syntheticLlamaParams, writeSyntheticLlama } from '../../quantization/syntheticLlama.js';
import { runDataFree } from './oneshot.js';

export const summary = 'quantize a built-in model (a small synthetic Llama, or WGC_DEMO_MODEL) and print the summary';

const USAGE = `usage: wgc demo [--scheme NAME] [--output DIR] [--json]

Quantizes a built-in default model with a data-free scheme (default W4A16) and prints the
summary. The model is a ${(syntheticLlamaParams(DEMO_LLAMA) / 1e6).toFixed(1)} M-parameter synthetic Llama generated deterministically into the
temporary folder, or the Hugging Face model folder named by WGC_DEMO_MODEL.

  --scheme NAME   preset to apply (default W4A16)
  --output DIR    where to write the checkpoint (default: a folder in the temporary directory, replaced)
  --json          print the summary as JSON`;

/** The synthetic model's folder, generated on first use (its content depends only on DEMO_LLAMA). */
async function demoModel(): Promise<string> {
  const c = DEMO_LLAMA;
  const dir = join(tmpdir(), `wgc-demo-llama-${c.hiddenSize}x${c.numLayers}-${c.seed}`);
  if (!existsSync(join(dir, 'config.json'))) {
    await writeOutputFolder(dir, { overwrite: true }, (out) => writeSyntheticLlama(out, c));
  }
  return dir;
}

/** `wgc demo` */
export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { scheme: { type: 'string' }, output: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (e) {
    console.error(`wgc demo: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const scheme = values.scheme ?? 'W4A16';
  const model = process.env.WGC_DEMO_MODEL || (await demoModel());
  const output = values.output ?? join(tmpdir(), `wgc-demo-${scheme.toLowerCase()}`);
  if (!values.json) console.error(`wgc demo: ${scheme} on ${model}${process.env.WGC_DEMO_MODEL ? ' (WGC_DEMO_MODEL)' : ' (built-in synthetic Llama)'}`);
  return runDataFree({ model, output, quantization: { scheme, targets: ['Linear'], ignore: [] }, overwrite: values.output === undefined, json: values.json ?? false });
}
