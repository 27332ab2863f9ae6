import { describe, it, expect } from 'vitest';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { useHardware, inErrorScope } from '../helpers/gpu.js';
import { openModelDir } from '../../src/io/node/index.js';
import { openCausalLM } from '../../src/models/load.js';
import { parseLlamaConfig } from '../../src/models/llama/config.js';
import { LlamaReference } from '../../src/models/reference/llama.js';
import { llamaWeightSpecs } from '../../src/models/llama/weights.js';
import { generateGreedy } from '../../src/models/generate.js';
import { evaluatePerplexity } from '../../src/models/evaluate.js';
import { loadTokenizer, loadTokenizedDataset } from '../../src/data/node.js';
import { perplexityWindows } from '../../src/data/perplexity.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const shared = path.resolve(repoRoot, '..', 'shared');
const modelDir = path.join(shared, 'models', 'stories260K');
const evalFile = path.join(shared, 'data', 'tinystories-valid-eval.txt');
const present = existsSync(path.join(modelDir, 'model.safetensors')) && existsSync(evalFile);
if (!present) console.warn(`skipping stories260K tests: ${modelDir} or ${evalFile} not found (../shared is absent)`);

const hardware = useHardware();

async function reference(): Promise<LlamaReference> {
  const folder = await openModelDir(modelDir);
  const config = parseLlamaConfig(folder.config.raw);
  const weights = new Map<string, Float32Array>();
  for (const s of llamaWeightSpecs(config)) weights.set(s.name, await folder.weights.readF32(s.name));
  await folder.close();
  return new LlamaReference(config, (n) => weights.get(n)!);
}

describe.skipIf(!present)('stories260K', () => {
  it('greedy generation from "Once upon a time" matches the float64 reference for 64 tokens', async () => {
    const hw = await hardware();
    const tokenizer = await loadTokenizer(modelDir);
    const prompt = tokenizer.encode('Once upon a time');
    expect(prompt[0]).toBe(1); // the tokenizer adds BOS
    const want = (await reference()).generateGreedy(prompt, 64);
    await inErrorScope(hw, async () => {
      const model = await openCausalLM(hw, await openModelDir(modelDir));
      const got = await generateGreedy(model, prompt, { maxNewTokens: 64 });
      expect(got).toEqual(want);
      expect(tokenizer.decode([...prompt, ...got])).toMatch(/^Once upon a time, there was a little girl named Lily/);
      await model.dispose?.();
    });
  });

  it('perplexity of the first 6 windows of 512 agrees with the float64 reference to 0.1%', async () => {
    const hw = await hardware();
    const tokenizer = await loadTokenizer(modelDir);
    const docs = await loadTokenizedDataset(evalFile, tokenizer, { docSeparator: '<|endoftext|>' });
    expect(docs.length).toBe(800);
    expect(docs.every((d) => d[0] === 1)).toBe(true);
    const windows = perplexityWindows(docs, 512, 6);
    const ref = await reference();
    let nllSum = 0;
    for (const w of windows) for (const x of ref.nextTokenNll(w)) nllSum += x;
    const refPpl = Math.exp(nllSum / (windows.length * 511));
    await inErrorScope(hw, async () => {
      const model = await openCausalLM(hw, await openModelDir(modelDir));
      const run = await evaluatePerplexity(model, windows);
      expect(run.tokens).toBe(6 * 511);
      expect(Math.abs(run.perplexity / refPpl - 1), `GPU ${run.perplexity} vs reference ${refPpl}`).toBeLessThan(1e-3);
      await model.dispose?.();
    });
  });
});
