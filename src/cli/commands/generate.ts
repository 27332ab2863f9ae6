import { parseArgs } from 'node:util';
import { acquireHardware } from '../../gpu/node/acquire.js';
import { openModelDir } from '../../io/node/index.js';
import { openCausalLM, type ExecutionCaveat } from '../../models/load.js';
import { generateGreedy } from '../../models/generate.js';
import { exitOnModelInputError } from '../modelInputErrors.js';
import { loadTokenizer } from '../../data/node.js';

export const summary = 'greedy text generation from a prompt (to see that a model still talks)';

const USAGE = `usage: wgc generate --model DIR --prompt TEXT [--max-new-tokens N] [--json]

Greedy decoding (argmax at every step, KV-cached) from a Hugging Face model folder.
The prompt is encoded with the tokenizer's special tokens (e.g. BOS); generation
stops at --max-new-tokens (default 64) or at the end-of-sequence token.

options:
  --model DIR            Hugging Face model folder (config.json, *.safetensors, tokenizer.json)
  --prompt TEXT          text to continue
  --max-new-tokens N     tokens to generate (default 64)
  --adapter NAME         WebGPU adapter (see wgc info)
  --json                 print one JSON object (text, token ids, timings)`;

/** `wgc generate`; bad input (missing files, unsupported config, bad dataset) exits with 2 and a message naming it. */
export async function run(argv: string[]): Promise<number> {
  return exitOnModelInputError('generate', () => runCommand(argv));
}

async function runCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' }, prompt: { type: 'string' }, 'max-new-tokens': { type: 'string' },
        adapter: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    console.error(`wgc generate: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const maxNew = values['max-new-tokens'] === undefined ? 64 : Number(values['max-new-tokens']);
  const problem = !values.model ? '--model is required' : values.prompt === undefined ? '--prompt is required'
    : !Number.isInteger(maxNew) || maxNew < 1 ? `--max-new-tokens must be a positive integer, got "${values['max-new-tokens']}"` : undefined;
  if (problem) {
    console.error(`wgc generate: ${problem}\n\n${USAGE}`);
    return 2;
  }
  const folder = await openModelDir(values.model!);
  const tokenizer = await loadTokenizer(values.model!);
  const prompt = tokenizer.encode(values.prompt!);
  const stop = [...(tokenizer.eosTokenId !== undefined ? [tokenizer.eosTokenId] : [])];
  const hw = await acquireHardware({ adapter: values.adapter });
  try {
    const caveats: ExecutionCaveat[] = [];
    const model = await openCausalLM(hw, folder, caveats);
    for (const c of caveats) console.error(`wgc generate: warning: ${c.message}`);
    const t0 = performance.now();
    const streaming = !values.json;
    if (streaming) process.stdout.write(tokenizer.decode(prompt));
    let shown = tokenizer.decode(prompt);
    const ids = [...prompt];
    const tokens = await generateGreedy(model, prompt, {
      maxNewTokens: maxNew,
      stopTokenIds: stop,
      onToken: (id) => {
        ids.push(id);
        if (!streaming) return;
        // Decode the whole text so multi-byte and space-merging tokens print correctly.
        const text = tokenizer.decode(ids);
        if (text.startsWith(shown)) process.stdout.write(text.slice(shown.length));
        shown = text;
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    await model.dispose?.();
    if (values.json) {
      console.log(JSON.stringify({ prompt: values.prompt, promptIds: prompt, ids: tokens, text: tokenizer.decode([...prompt, ...tokens]), seconds, tokensPerSecond: tokens.length / seconds, caveats: caveats.map((c) => c.message) }, null, 2));
    } else {
      process.stdout.write('\n');
      console.error(`${tokens.length} tokens in ${seconds.toFixed(2)} s (${(tokens.length / seconds).toFixed(1)} tokens/s)`);
    }
    return 0;
  } finally {
    await hw.destroy();
  }
}
