import { parseArgs } from 'node:util';
import { acquireHardware } from '../../gpu/node/acquire.js';
import { openModelDir } from '../../io/node/index.js';
import { openCausalLM, type ExecutionCaveat } from '../../models/load.js';
import { evaluatePerplexity } from '../../models/evaluate.js';
import { exitOnModelInputError } from '../modelInputErrors.js';
import { loadTokenizer, loadTokenizedDataset } from '../../data/node.js';
import { perplexityWindows } from '../../data/perplexity.js';

export const summary = 'perplexity of a model (dense or compressed-tensors checkpoint) on a text, JSONL or token-id dataset';

const USAGE = `usage: wgc eval --model DIR --dataset FILE [options]

Perplexity by the usual protocol: every document's tokens (with the tokenizer's
special tokens, e.g. BOS) concatenated, cut into non-overlapping windows of
--max-seq-length tokens (a shorter tail is dropped); each window scores its
positions 2..L; ppl = exp(mean NLL over all scored tokens).

options:
  --model DIR            Hugging Face model folder (config.json, *.safetensors, tokenizer.json)
  --dataset FILE         .txt (documents split on --doc-separator lines), .jsonl (--text-field,
                         or "input_ids" records) or .json (pre-tokenized: array of id arrays)
  --doc-separator STR    line that separates documents in a text file (e.g. '<|endoftext|>')
  --text-field F         JSONL field holding the text (default: text)
  --max-seq-length N     window length (default: min(max_position_embeddings, 2048))
  --max-windows N        evaluate only the first N windows
  --batch-size N         windows per forward (default: automatic)
  --adapter NAME         WebGPU adapter (see wgc info)
  --json                 print one JSON object instead of text`;

function positiveInt(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got "${v}"`);
  return n;
}

class UsageError extends Error {}

/** `wgc eval`; bad input (missing files, unsupported config, bad dataset) exits with 2 and a message naming it. */
export async function run(argv: string[]): Promise<number> {
  return exitOnModelInputError('eval', () => runCommand(argv));
}

async function runCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' }, dataset: { type: 'string' }, 'doc-separator': { type: 'string' }, 'text-field': { type: 'string' },
        'max-seq-length': { type: 'string' }, 'max-windows': { type: 'string' }, 'batch-size': { type: 'string' },
        adapter: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    console.error(`wgc eval: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  let maxSeq: number | undefined;
  let maxWindows: number | undefined;
  let batchSize: number | undefined;
  try {
    if (!values.model) throw new UsageError('--model is required');
    if (!values.dataset) throw new UsageError('--dataset is required');
    maxSeq = positiveInt(values['max-seq-length'], '--max-seq-length');
    maxWindows = positiveInt(values['max-windows'], '--max-windows');
    batchSize = positiveInt(values['batch-size'], '--batch-size');
    if (maxSeq !== undefined && maxSeq < 2) throw new UsageError('--max-seq-length must be at least 2');
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`wgc eval: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    throw e;
  }
  const t0 = performance.now();
  const folder = await openModelDir(values.model);
  const tokenizer = await loadTokenizer(values.model);
  const L = maxSeq ?? Math.min(folder.config.maxPositionEmbeddings || 2048, 2048);
  const docs = await loadTokenizedDataset(values.dataset, tokenizer, { docSeparator: values['doc-separator'], textField: values['text-field'] });
  const windows = perplexityWindows(docs, L, maxWindows);
  const tokenizeSeconds = (performance.now() - t0) / 1000;
  if (!windows.length) {
    await folder.close();
    console.error(`wgc eval: ${values.dataset} has fewer than ${L} tokens; lower --max-seq-length`);
    return 2;
  }
  const hw = await acquireHardware({ adapter: values.adapter });
  try {
    const caveats: ExecutionCaveat[] = [];
    const model = await openCausalLM(hw, folder, caveats);
    for (const c of caveats) console.error(`wgc eval: warning: ${c.message}`);
    const progress = !values.json && process.stderr.isTTY;
    const result = await evaluatePerplexity(model, windows, {
      batchSize,
      onProgress: progress ? (done, total) => process.stderr.write(`\r${done}/${total} windows`) : undefined,
    });
    if (progress) process.stderr.write('\n');
    await model.dispose?.();
    const out = {
      model: values.model,
      dataset: values.dataset,
      maxSeqLength: L,
      documents: docs.length,
      windows: result.windows,
      tokens: result.tokens,
      meanNll: result.meanNll,
      perplexity: result.perplexity,
      seconds: result.seconds,
      tokensPerSecond: result.tokensPerSecond,
      tokenizeSeconds,
      adapter: `${hw.info.vendor} ${hw.info.architecture} ${hw.info.device}`.trim(),
      caveats: caveats.map((c) => c.message),
    };
    if (values.json) {
      console.log(JSON.stringify(out, null, 2));
    } else {
      console.log(`perplexity   ${out.perplexity.toFixed(4)}`);
      console.log(`mean NLL     ${out.meanNll.toFixed(6)} nats/token`);
      console.log(`tokens       ${out.tokens} scored in ${out.windows} windows of ${L} (${out.documents} documents)`);
      console.log(`time         ${out.seconds.toFixed(2)} s forward (${out.tokensPerSecond.toFixed(0)} tokens/s), ${tokenizeSeconds.toFixed(2)} s loading + tokenizing`);
    }
    return 0;
  } finally {
    await hw.destroy();
  }
}
