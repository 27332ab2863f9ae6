import { parseArgs } from 'node:util';
import { acquireHardware } from '../../gpu/node/acquire.js';
import { QuantizationConfigError } from '../../quantization/args.js';
import { dataFreeOneshot, type DataFreeRecipe } from '../../quantization/dataFreeOneshot.js';
import type { ModelFreeProgress } from '../../quantization/modelFree.js';
import { PRESET_NAMES } from '../../quantization/presets.js';
import { QuantizationError } from '../../quantization/quantizeWeight.js';
import { formatSummary, type QuantizationSummary } from '../../quantization/summary.js';
import { RecipeError } from '../../recipe/errors.js';
import { CheckpointError } from '../../io/errors.js';

export const summary = 'quantize a model without calibration data (RTN, data-free schemes) into a compressed-tensors checkpoint';

const USAGE = `usage: wgc oneshot --model DIR (--recipe FILE | --scheme NAME [--targets T ...] [--ignore M ...]) --output DIR [--overwrite] [--json]

Quantizes every targeted Linear weight of the Hugging Face model in DIR on the GPU, tensor by
tensor from its safetensors files, and writes a compressed-tensors checkpoint to --output
(which appears only once complete). lm_head stays dense unless a target names it.

  --model DIR       source model folder (config.json + *.safetensors)
  --recipe FILE     a recipe with one QuantizationModifier (YAML/JSON)
  --scheme NAME     a preset: ${PRESET_NAMES.join(', ')}
  --targets T       modules the preset applies to (default Linear); repeat or comma-separate
  --ignore M        modules to leave dense (names or re:patterns); repeat or comma-separate
  --output DIR      where to write the checkpoint
  --overwrite       replace an existing non-empty --output
  --json            print the summary as JSON
  --adapter NAME    WebGPU adapter (as WGC_ADAPTER)

Schemes whose activations are quantized statically (FP8, NVFP4, static W8A8) need calibration
data and are refused.`;

function list(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
}

/** A progress reporter: a redrawn bar on a terminal, one line per tensor otherwise. */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr): { update: (p: ModelFreeProgress) => void; done: () => void } {
  const tty = stream.isTTY === true;
  const t0 = performance.now();
  let drawn = false;
  return {
    update(p) {
      if (!tty) {
        stream.write(`[${p.index}/${p.total}] ${p.tensor} [${p.shape.join(', ')}]\n`);
        return;
      }
      const width = 30;
      const filled = Math.round((p.index / p.total) * width);
      const secs = (performance.now() - t0) / 1000;
      const cols = stream.columns ?? 100;
      const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.index}/${p.total} ${secs.toFixed(1)}s ${p.tensor}`;
      stream.write(`\r${line.slice(0, cols - 1).padEnd(cols - 1)}`);
      drawn = true;
    },
    done() {
      if (drawn) stream.write('\n');
    },
  };
}

/** Runs a data-free oneshot with progress and prints the summary; returns the exit code. */
export async function runDataFree(opts: { model: string; output: string; quantization: DataFreeRecipe; overwrite: boolean; json: boolean; adapter?: string }): Promise<number> {
  let result: QuantizationSummary;
  const progress = progressReporter();
  try {
    const hw = await acquireHardware({ adapter: opts.adapter });
    try {
      result = await dataFreeOneshot(hw, { model: opts.model, output: opts.output, quantization: opts.quantization, overwrite: opts.overwrite, onProgress: progress.update });
    } finally {
      progress.done();
      await hw.destroy();
    }
  } catch (e) {
    if (e instanceof QuantizationError || e instanceof QuantizationConfigError || e instanceof RecipeError || e instanceof CheckpointError || e instanceof RangeError) {
      console.error(`wgc oneshot: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (opts.json) console.log(JSON.stringify(result, null, 2));
  else console.log(formatSummary(result));
  return 0;
}

/** `wgc oneshot` */
export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' },
        recipe: { type: 'string' },
        scheme: { type: 'string' },
        targets: { type: 'string', multiple: true },
        ignore: { type: 'string', multiple: true },
        output: { type: 'string' },
        overwrite: { type: 'boolean' },
        json: { type: 'boolean' },
        adapter: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    console.error(`wgc oneshot: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const problems: string[] = [];
  if (!values.model) problems.push('--model is required');
  if (!values.output) problems.push('--output is required');
  if (!values.recipe === !values.scheme) problems.push('give exactly one of --recipe and --scheme');
  if (values.recipe && (values.targets || values.ignore)) problems.push('--targets and --ignore go with --scheme; a recipe carries its own');
  if (problems.length) {
    console.error(`wgc oneshot: ${problems.join('; ')}\n\n${USAGE}`);
    return 2;
  }
  const quantization: DataFreeRecipe = values.recipe
    ? { recipe: values.recipe }
    : { scheme: values.scheme!, targets: list(values.targets), ignore: list(values.ignore) };
  return runDataFree({ model: values.model!, output: values.output!, quantization, overwrite: values.overwrite ?? false, json: values.json ?? false, adapter: values.adapter });
}
