/**
 * End to end on ../shared/models/stories260K: calibrate on
 * tinystories-valid-calib.txt (windows of 512 tokens), compress in process,
 * evaluate perplexity on tinystories-valid-eval.txt (src/models/evaluate.ts
 * protocol). AWQ + W4A16 channel-wise must beat round-to-nearest with the
 * same scheme. The default run calibrates on 4 windows of 256 tokens and
 * evaluates 12 windows of 512 (the grid search re-runs each attention block
 * 21 times, and attention dominates on a software adapter);
 * WGC_STORIES_TABLE=1 runs the README protocol (128 calibration windows of
 * 512, every eval window) and prints the rows.
 */
import { describe, it, expect } from 'vitest';
import { useHardware } from '../helpers/gpu.js';
import { loadCausalLMFromDir } from '../../src/models/node.js';
import { evaluatePerplexity } from '../../src/models/evaluate.js';
import { loadTokenizer, loadTokenizedDataset } from '../../src/data/node.js';
import { perplexityWindows } from '../../src/data/perplexity.js';
import { oneshot } from '../../src/oneshot.js';
import { LoggerManager } from '../../src/loggers/manager.js';
import type { AWQModifier } from '../../src/modifiers/awq/base.js';
import { storiesFixture } from '../helpers/stories.js';

const { modelDir, calibFile, evalFile, present, full: FULL } = storiesFixture('AWQ');

const hardware = useHardware();

/** W4A16 channel-wise: symmetric int4, one scale per output row. */
const W4_CHANNEL = { config_groups: { g: { targets: ['Linear'], weights: { num_bits: 4, type: 'int', symmetric: true, strategy: 'channel' } } }, ignore: ['lm_head'] };

const METHODS: { name: string; recipe?: Record<string, unknown> }[] = [
  { name: 'fp32' },
  { name: 'RTN W4A16 channel', recipe: { QuantizationModifier: W4_CHANNEL } },
  { name: 'AWQ + W4A16 channel', recipe: { AWQModifier: {}, QuantizationModifier: W4_CHANNEL } },
];

describe.skipIf(!present)('stories260K AWQ', () => {
  it(`AWQ + W4A16 channel-wise beats RTN W4A16 channel-wise${FULL ? ' (README protocol)' : ''}`, async () => {
    const hw = await hardware();
    const tokenizer = await loadTokenizer(modelDir);
    const calibDocs = await loadTokenizedDataset(calibFile, tokenizer, { docSeparator: '<|endoftext|>' });
    const evalDocs = await loadTokenizedDataset(evalFile, tokenizer, { docSeparator: '<|endoftext|>' });
    const calibLength = FULL ? 512 : 256;
    const calib = perplexityWindows(calibDocs, calibLength, FULL ? 128 : 4);
    const evalWindows = perplexityWindows(evalDocs, 512, FULL ? Infinity : 12);
    const rows: { name: string; ppl: number; seconds: number }[] = [];
    for (const method of METHODS) {
      const model = await loadCausalLMFromDir(modelDir, hw);
      const t0 = performance.now();
      if (method.recipe) {
        const run = await oneshot({ model, hardware: hw, recipe: method.recipe, dataset: { samples: calib }, numCalibrationSamples: calib.length, loggers: LoggerManager.silent() });
        const awq = run.recipe.modifiers.find((m) => m.type === 'AWQModifier') as AWQModifier | undefined;
        // stories260K has grouped-query attention (4 kv heads of 8): v_proj → o_proj is skipped, three mappings per layer.
        if (awq) expect(awq.mappingResults.length).toBe(3 * model.numLayers);
      }
      await hw.sync();
      const seconds = (performance.now() - t0) / 1000;
      const run = await evaluatePerplexity(model, evalWindows);
      rows.push({ name: method.name, ppl: run.perplexity, seconds });
      await model.dispose?.();
    }
    console.log(
      [
        `| method (${calib.length} calibration windows × ${calibLength}, ${evalWindows.length} eval windows × 512) | perplexity | oneshot seconds |`,
        '|---|---|---|',
        ...rows.map((r) => `| ${r.name} | ${r.ppl.toFixed(3)} | ${r.name === 'fp32' ? '—' : r.seconds.toFixed(1)} |`),
      ].join('\n'),
    );
    const ppl = Object.fromEntries(rows.map((r) => [r.name, r.ppl]));
    expect(ppl['AWQ + W4A16 channel']).toBeLessThan(ppl['RTN W4A16 channel']);
  }, 3_600_000);
});
