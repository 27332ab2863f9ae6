// Scenario planning and output parsing (bench/scenarios.ts); the scenarios
// themselves run built commands in child processes and are exercised by
// `npm run bench`, not here.
import { describe, it, expect } from 'vitest';
import { lastJsonObject, planScenarios } from '../../bench/scenarios.js';

describe('planScenarios', () => {
  it('quick on a software adapter: tiny and 125m data-free, calibrated runs on tiny only', () => {
    const names = planScenarios({ quick: true, large: false, software: true }).map((s) => s.name);
    expect(names).toEqual([
      'scenario.oneshot.W4A16.tiny', 'scenario.oneshot.FP8_DYNAMIC.tiny',
      'scenario.gptq.W4A16.tiny.n16', 'scenario.sparsegpt.2of4.tiny.n16', 'scenario.eval.tiny.seq128',
      'scenario.oneshot.W4A16.125m', 'scenario.oneshot.FP8_DYNAMIC.125m',
    ]);
  });
  it('full on a real GPU: every scenario on tiny, 125m and 1b; --large adds 3b and 8b', () => {
    const plan = planScenarios({ quick: false, large: true, software: false });
    for (const size of ['tiny', '125m', '1b', '3b', '8b']) {
      expect(plan.filter((s) => s.size === size).map((s) => s.kind)).toEqual(['oneshot', 'oneshot', 'gptq', 'sparsegpt', 'eval']);
    }
    expect(plan.find((s) => s.kind === 'gptq')!.args).toContain('64');
    expect(plan.find((s) => s.kind === 'eval')!.name).toBe('scenario.eval.tiny.seq512');
  });
  it('every command line names the model and the data it needs', () => {
    for (const s of planScenarios({ quick: false, large: false, software: false })) {
      expect(s.args).toContain('{model}');
      if (s.kind !== 'oneshot') expect(s.args).toContain('{data}');
      if (s.recipe) expect(s.args).toContain('{recipe}');
    }
  });
  it('work figures: bytes for data-free runs, FLOPs for runs that execute the model', () => {
    const plan = planScenarios({ quick: true, large: false, software: true });
    const p = { params: 1000, linear: 800, lmHead: 100, bytes: 2000 };
    expect(plan.find((s) => s.kind === 'oneshot')!.work(p)).toEqual({ bytes: 2000 });
    expect(plan.find((s) => s.kind === 'eval')!.work(p)).toEqual({ flops: 2 * 900 * 2 * 128, tokens: 256 });
    expect(plan.find((s) => s.kind === 'gptq')!.work(p)).toEqual({ flops: 4 * 800 * 16 * 128, tokens: 16 * 128 });
  });
});

describe('lastJsonObject', () => {
  it('finds the JSON a command printed after progress lines', () => {
    const out = 'loading…\n{"a": 1}\nprogress 3/4\n{\n  "seconds": 2.5,\n  "nested": {"x": [1, 2]}\n}\n';
    expect(lastJsonObject(out)).toEqual({ seconds: 2.5, nested: { x: [1, 2] } });
  });
  it('undefined when there is none', () => {
    expect(lastJsonObject('no json here } {')).toBeUndefined();
  });
});
