/**
 * End to end on ../shared/models/stories260K: SmoothQuant + W8A8
 * (QuantizationModifier) calibrated on tinystories-valid-calib.txt must stay
 * within 1% of the fp32 perplexity on tinystories-valid-eval.txt
 * (src/models/evaluate.ts protocol). The evaluation forward quantizes each
 * Linear's input per token to int8, as the scheme says (and a serving runtime
 * does), so the row is true W8A8. The default run calibrates on 8 windows of
 * 512 and evaluates 12; WGC_STORIES_TABLE=1 runs the README protocol (128
 * calibration windows, every eval window) and prints the rows.
 */
import { describe, it, expect } from 'vitest';
import { useHardware } from '../helpers/gpu.js';
import { loadCausalLMFromDir } from '../../src/models/node.js';
import { evaluatePerplexity } from '../../src/models/evaluate.js';
import { loadTokenizer, loadTokenizedDataset } from '../../src/data/node.js';
import { perplexityWindows } from '../../src/data/perplexity.js';
import { oneshot } from '../../src/oneshot.js';
import { LoggerManager } from '../../src/loggers/manager.js';
import { storiesFixture } from '../helpers/stories.js';

const { modelDir, calibFile, evalFile, present, full: FULL } = storiesFixture('SmoothQuant');

const hardware = useHardware();

const W8A8 = { scheme: 'W8A8', targets: ['Linear'], ignore: ['lm_head'] };

const METHODS: { name: string; recipe?: Record<string, unknown> }[] = [
  { name: 'fp32' },
  { name: 'RTN W8A8', recipe: { QuantizationModifier: W8A8 } },
  { name: 'SmoothQuant + W8A8', recipe: { SmoothQuantModifier: { smoothing_strength: 0.5 }, QuantizationModifier: W8A8 } },
];

describe.skipIf(!present)('stories260K SmoothQuant', () => {
  it(`SmoothQuant + W8A8 is within 1% of fp32 perplexity${FULL ? ' (README protocol)' : ''}`, async () => {
    const hw = await hardware();
    const tokenizer = await loadTokenizer(modelDir);
    const calibDocs = await loadTokenizedDataset(calibFile, tokenizer, { docSeparator: '<|endoftext|>' });
    const evalDocs = await loadTokenizedDataset(evalFile, tokenizer, { docSeparator: '<|endoftext|>' });
    const calib = perplexityWindows(calibDocs, 512, FULL ? 128 : 8);
    const evalWindows = perplexityWindows(evalDocs, 512, FULL ? Infinity : 12);
    const rows: { name: string; ppl: number; seconds: number }[] = [];
    for (const method of METHODS) {
      const model = await loadCausalLMFromDir(modelDir, hw);
      const t0 = performance.now();
      if (method.recipe) await oneshot({ model, hardware: hw, recipe: method.recipe, dataset: { samples: calib }, numCalibrationSamples: calib.length, loggers: LoggerManager.silent() });
      await hw.sync();
      const seconds = (performance.now() - t0) / 1000;
      const run = await evaluatePerplexity(model, evalWindows);
      rows.push({ name: method.name, ppl: run.perplexity, seconds });
      await model.dispose?.();
    }
    console.log(
      [
        `| method (${calib.length} calibration windows × 512, ${evalWindows.length} eval windows × 512) | perplexity | oneshot seconds |`,
        '|---|---|---|',
        ...rows.map((r) => `| ${r.name} | ${r.ppl.toFixed(3)} | ${r.name === 'fp32' ? '—' : r.seconds.toFixed(1)} |`),
      ].join('\n'),
    );
    const ppl = Object.fromEntries(rows.map((r) => [r.name, r.ppl]));
    expect(ppl['SmoothQuant + W8A8'] / ppl.fp32 - 1).toBeLessThan(0.01);
  }, 3_600_000);
});
