// Statistics of repeated measurements (bench/stats.ts) on fixed samples.
import { describe, it, expect } from 'vitest';
import { median, summarize, rates } from '../../bench/stats.js';

describe('median', () => {
  it('odd count: the middle value, whatever the order', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([2])).toBe(2);
  });
  it('even count: the mean of the two middle values', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
  it('does not reorder its input', () => {
    const s = [3, 1, 2];
    median(s);
    expect(s).toEqual([3, 1, 2]);
  });
  it('an empty sample is an error', () => {
    expect(() => median([])).toThrow(/empty/);
  });
});

describe('summarize', () => {
  it('spread is (max − min) / median', () => {
    expect(summarize([90, 100, 110])).toEqual({ median: 100, spread: 0.2 });
    expect(summarize([1, 2, 3, 4])).toEqual({ median: 2.5, spread: 3 / 2.5 });
  });
  it('a single sample has spread 0', () => {
    expect(summarize([7])).toEqual({ median: 7, spread: 0 });
  });
  it('a zero median reports spread 0 rather than infinity', () => {
    expect(summarize([0, 0, 1]).spread).toBe(0);
  });
  it('one slow repetition moves the spread, not the median', () => {
    const s = summarize([10, 10.2, 9.9, 10.1, 30]);
    expect(s.median).toBe(10.1);
    expect(s.spread).toBeCloseTo((30 - 9.9) / 10.1, 12);
  });
});

describe('rates', () => {
  it('work per second of each repetition', () => {
    expect(rates([0.5, 0.25, 2], 10)).toEqual([20, 40, 5]);
  });
});
