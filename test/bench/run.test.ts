// Pieces of the bench runner that decide what runs and how entries are
// built from measurements (bench/run.ts, bench/ceilings.ts), on fixed inputs.
import { describe, it, expect } from 'vitest';
import { alternatives, mayMatch } from '../../bench/run.js';
import { rateEntry } from '../../bench/ceilings.js';
import type { Measurement } from '../../bench/measure.js';

describe('--only and modules', () => {
  it('splits a pattern into its top-level alternatives', () => {
    expect(alternatives('a|b(c|d)|[|]|e\\|f')).toEqual(['a', 'b(c|d)', '[|]', 'e\\|f']);
    expect(alternatives('single')).toEqual(['single']);
  });
  const words = ['quantize', 'oneshot', 'pack'];
  it('runs a module whose name or entry prefix a pattern can match', () => {
    expect(mayMatch(undefined, 'quantize', words)).toBe(true);
    expect(mayMatch(/quantize/, 'quantize', words)).toBe(true);
    expect(mayMatch(/^quantize\.pack\.W4A16/, 'kernels', ['quantize', 'cast'])).toBe(true);
    expect(mayMatch(/oneshot\.datafree/, 'quantize', words)).toBe(true);
    expect(mayMatch(/forward|copy/, 'quantize', words)).toBe(false);
  });
  it('alternatives about scenarios select no module', () => {
    expect(mayMatch(/scenario\.oneshot\..*1b/, 'quantize', words)).toBe(false);
    expect(mayMatch(/copy|scenario\.oneshot\.W4A16\.tiny/, 'quantize', words)).toBe(false);
    expect(mayMatch(/pack|scenario\.oneshot/, 'quantize', words)).toBe(true);
  });
});

describe('rateEntry', () => {
  const m: Measurement = { seconds: [0.5, 0.25, 1], wallSeconds: [0.6, 0.3, 1.1], timer: 'gpu', passes: 1 };
  it('rates: work / scale per second, median and spread over the rates', () => {
    const e = rateEntry('x', 'GB/s', m, 2e9, 1e9, { bytes: 2e9 });
    expect(e.samples).toEqual([4, 8, 2]);
    expect(e.value).toBe(4);
    expect(e.spread).toBe(1.5);
    expect(e.timer).toBe('gpu');
    expect(e.extra).toMatchObject({ bytes: 2e9, seconds: 0.5, wallSeconds: 0.6, runsPerRepetition: 1 });
  });
  it('time units: the time per unit of work, in that unit', () => {
    expect(rateEntry('t', 's', m, 1, 1).samples).toEqual([0.5, 0.25, 1]);
    expect(rateEntry('t', 'ms', m, 1, 1).value).toBeCloseTo(500, 9);
    const us = rateEntry('t', 'us', m, 1000, 1).samples!;
    [500, 250, 1000].forEach((v, i) => expect(us[i]).toBeCloseTo(v, 9));
  });
});
