import { describe, expect, it } from 'vitest';
import { Event, EventType } from '../../src/core/events.js';
import { State } from '../../src/core/state.js';
import { LoggerManager } from '../../src/loggers/manager.js';

describe('Event', () => {
  it('carries llm-compressor event type values', () => {
    expect(Object.values(EventType)).toEqual([
      'initialize', 'finalize', 'batch_start', 'loss_calculated', 'batch_end',
      'calibration_start', 'sequential_epoch_end', 'calibration_end', 'optim_pre_step', 'optim_post_step',
    ]);
  });

  it('step-based index, windows and update intervals', () => {
    const e = new Event({ type: EventType.BATCH_START, globalStep: 6 });
    expect(e.epochBased).toBe(false);
    expect(e.currentIndex).toBe(6);
    expect(() => e.epoch).toThrow('Event is not epoch based');
    expect(e.shouldUpdate(null, null, null)).toBe(true);
    expect(e.shouldUpdate(7, null, null)).toBe(false);
    expect(e.shouldUpdate(0, 5, null)).toBe(false);
    expect(e.shouldUpdate(0, 10, 3)).toBe(true);
    expect(e.shouldUpdate(0, 10, 4)).toBe(false);
    e.currentIndex = 9;
    expect([e.globalStep, e.globalBatch]).toEqual([9, 9]);
  });

  it('epoch-based properties', () => {
    const e = new Event({ type: EventType.BATCH_END, stepsPerEpoch: 4, batchesPerStep: 2, globalStep: 10, globalBatch: 21 });
    expect(e.epoch).toBe(2);
    expect(e.epochFull).toBe(2.5);
    expect(e.epochStep).toBe(2);
    expect(e.epochBatch).toBe(5);
    expect(e.currentIndex).toBe(2.5);
    e.currentIndex = 1.5;
    expect([e.globalStep, e.globalBatch]).toEqual([6, 12]);
    const copy = e.newInstance({ type: EventType.BATCH_START });
    expect([copy.type, copy.globalStep, copy.stepsPerEpoch]).toEqual(['batch_start', 6, 4]);
  });
});

describe('State', () => {
  it('has the seed fields and update() copies defined values only', () => {
    const s = new State();
    expect(Object.keys(s).sort()).toEqual(['batchData', 'data', 'hardware', 'loggers', 'loss', 'model', 'optimizer', 'teacherModel']);
    const loggers = LoggerManager.silent();
    s.update({ loss: 3, loggers, data: { calib: ['a'] } });
    s.update({ loss: undefined, data: { train: 'x', calib: undefined } });
    expect(s.loss).toBe(3);
    expect(s.loggers).toBe(loggers);
    expect(s.data).toEqual({ train: 'x', val: undefined, test: undefined, calib: ['a'] });
  });
});
