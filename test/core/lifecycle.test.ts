import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CompressionLifecycle, LifecycleError } from '../../src/core/lifecycle.js';
import { EventType, type Subgraph } from '../../src/core/events.js';
import { ModifierFactory } from '../../src/modifiers/factory.js';
import { NotImplementedError } from '../../src/recipe/errors.js';
import { calls, PendingModifier, RecordingModifier } from './recording.js';

const sub = (index: number, count: number): Subgraph => ({ index, count, modules: [] });

beforeAll(() => ModifierFactory.register('RecordingModifier', RecordingModifier));
afterAll(() => ModifierFactory.unregister('RecordingModifier'));
beforeEach(() => {
  calls.length = 0;
});

describe('hook order (llm-compressor Modifier.update_event)', () => {
  it('calibration: initialize, calibration start, one epoch end per subgraph, calibration end, finalize — in recipe order', async () => {
    const lc = new CompressionLifecycle();
    await lc.initialize({
      recipe: `
quant_stage:
  first_modifiers:
    RecordingModifier: {label: A}
  second_modifiers:
    RecordingModifier: {label: B}
`,
    });
    await lc.event(EventType.CALIBRATION_START);
    await lc.event(EventType.SEQUENTIAL_EPOCH_END, { subgraph: sub(0, 2) });
    await lc.event(EventType.SEQUENTIAL_EPOCH_END, { subgraph: sub(1, 2) });
    await lc.event(EventType.CALIBRATION_END);
    await lc.finalize();
    expect(calls).toEqual([
      'A:initialize',
      'B:initialize',
      'A:event(calibration_start)',
      'A:calibrationStart',
      'B:event(calibration_start)',
      'B:calibrationStart',
      'A:event(sequential_epoch_end)',
      'A:sequentialEpochEnd#0/2',
      'B:event(sequential_epoch_end)',
      'B:sequentialEpochEnd#0/2',
      'A:event(sequential_epoch_end)',
      'A:sequentialEpochEnd#1/2',
      'B:event(sequential_epoch_end)',
      'B:sequentialEpochEnd#1/2',
      'A:event(calibration_end)',
      'A:calibrationEnd',
      'B:event(calibration_end)',
      'B:calibrationEnd',
      'A:finalize',
      'B:finalize',
    ]);
    const [a, b] = lc.modifiers;
    expect([a.initialized, a.started, a.ended, a.finalized]).toEqual([true, true, true, true]);
    expect(b.group).toBe('second');
  });

  it('training events: start/end windows open and close on batch events; onUpdate while open', async () => {
    const lc = new CompressionLifecycle();
    await lc.initialize({
      recipe: [
        new RecordingModifier({ label: 'A' }), // no window: only onEvent
        new RecordingModifier({ label: 'B', start: 0, end: 2 }), // starts at initialize (step 0)
        new RecordingModifier({ label: 'C', start: 1, end: 3 }),
      ],
    });
    expect(calls.splice(0)).toEqual(['A:initialize', 'B:initialize', 'B:start@0', 'C:initialize']);

    const step = async (globalStep: number) => {
      await lc.event(EventType.BATCH_START, { globalStep, batchData: { step: globalStep } });
      await lc.event(EventType.LOSS_CALCULATED, { loss: 1.5 });
      await lc.event(EventType.OPTIM_PRE_STEP);
      await lc.event(EventType.OPTIM_POST_STEP);
      await lc.event(EventType.BATCH_END);
    };
    await step(0);
    expect(calls.splice(0)).toEqual([
      'A:event(batch_start)', 'B:event(batch_start)', 'B:update(batch_start)', 'C:event(batch_start)',
      'A:event(loss_calculated)', 'B:event(loss_calculated)', 'B:update(loss_calculated)', 'C:event(loss_calculated)',
      'A:event(optim_pre_step)', 'B:event(optim_pre_step)', 'B:update(optim_pre_step)', 'C:event(optim_pre_step)',
      'A:event(optim_post_step)', 'B:event(optim_post_step)', 'B:update(optim_post_step)', 'C:event(optim_post_step)',
      'A:event(batch_end)', 'B:event(batch_end)', 'B:update(batch_end)', 'C:event(batch_end)',
    ]);
    expect(lc.state.loss).toBe(1.5);
    expect(lc.state.batchData).toEqual({ step: 0 });

    await step(1);
    expect(calls.splice(0).filter((c) => c.startsWith('C:'))).toEqual([
      'C:event(batch_start)', 'C:start@1', 'C:update(batch_start)',
      'C:event(loss_calculated)', 'C:update(loss_calculated)',
      'C:event(optim_pre_step)', 'C:update(optim_pre_step)',
      'C:event(optim_post_step)', 'C:update(optim_post_step)',
      'C:event(batch_end)', 'C:update(batch_end)',
    ]);

    await lc.event(EventType.BATCH_START, { globalStep: 2 });
    await lc.event(EventType.BATCH_END);
    expect(calls.splice(0)).toEqual([
      'A:event(batch_start)', 'B:event(batch_start)', 'B:update(batch_start)', 'C:event(batch_start)', 'C:update(batch_start)',
      'A:event(batch_end)', 'B:event(batch_end)', 'B:end@2', 'B:update(batch_end)', 'C:event(batch_end)', 'C:update(batch_end)',
    ]);

    await lc.event(EventType.BATCH_START, { globalStep: 3 });
    await lc.event(EventType.BATCH_END);
    expect(calls.splice(0)).toEqual([
      'A:event(batch_start)', 'B:event(batch_start)', 'C:event(batch_start)', 'C:update(batch_start)',
      'A:event(batch_end)', 'B:event(batch_end)', 'C:event(batch_end)', 'C:end@3', 'C:update(batch_end)',
    ]);
    await lc.finalize();
    expect(calls).toEqual(['A:finalize', 'B:finalize', 'C:finalize']);
  });
});

describe('misuse is a clear error', () => {
  it('events and finalize before initialize', async () => {
    const lc = new CompressionLifecycle();
    await expect(lc.event(EventType.CALIBRATION_START)).rejects.toThrow(new LifecycleError('Cannot invoke event calibration_start before initializing'));
    await expect(lc.finalize()).rejects.toThrow('Cannot finalize before initializing');
  });

  it('double finalize, events after finalize', async () => {
    const lc = new CompressionLifecycle();
    await lc.initialize({ recipe: [new RecordingModifier({ label: 'A' })] });
    await lc.finalize();
    await expect(lc.finalize()).rejects.toThrow('Cannot finalize more than once');
    await expect(lc.event(EventType.BATCH_START)).rejects.toThrow('Cannot invoke event batch_start after finalizing');
  });

  it('INITIALIZE/FINALIZE through event(), missing loss, missing subgraph, unknown type', async () => {
    const lc = new CompressionLifecycle();
    await lc.initialize({ recipe: [new RecordingModifier({ label: 'A' })] });
    await expect(lc.event(EventType.INITIALIZE)).rejects.toThrow('Cannot invoke initialize event. Use the corresponding method instead.');
    await expect(lc.event(EventType.FINALIZE)).rejects.toThrow('Cannot invoke finalize event. Use the corresponding method instead.');
    await lc.event(EventType.BATCH_START);
    await expect(lc.event(EventType.LOSS_CALCULATED)).rejects.toThrow('Loss must be provided for loss calculated event');
    await expect(lc.event(EventType.SEQUENTIAL_EPOCH_END)).rejects.toThrow('needs the subgraph');
    await expect(lc.event('bogus' as EventType)).rejects.toThrow('Unknown event type "bogus"');
  });

  it('batch events out of order', async () => {
    const lc = new CompressionLifecycle();
    await lc.initialize({ recipe: [new RecordingModifier({ label: 'A' })] });
    await lc.event(EventType.BATCH_START);
    await expect(lc.event(EventType.BATCH_START)).rejects.toThrow('batch_start was called before batch_start');
    await lc.event(EventType.OPTIM_POST_STEP);
    await expect(lc.event(EventType.LOSS_CALCULATED, { loss: 1 })).rejects.toThrow('optim_post_step was called before loss_calculated');
    // Calibration events are not order-checked, as in llm-compressor.
    await lc.event(EventType.CALIBRATION_END);
  });

  it('a second recipe for an initialized lifecycle', async () => {
    const lc = new CompressionLifecycle();
    await lc.initialize({ recipe: [new RecordingModifier({ label: 'A' })] });
    await expect(lc.initialize({ recipe: [new RecordingModifier({ label: 'B' })] })).rejects.toThrow('already initialized');
    await lc.initialize({ batchData: 7 }); // state-only update is fine
    expect(lc.state.batchData).toBe(7);
  });

  it('modifier-level misuse', async () => {
    const lc = new CompressionLifecycle();
    const m = new RecordingModifier({ label: 'A' });
    await expect(m.updateEvent(lc.state, new (await import('../../src/core/events.js')).Event({ type: EventType.BATCH_START }))).rejects.toThrow(
      'RecordingModifier: Cannot update an uninitialized modifier',
    );
    await expect(m.finalize(lc.state)).rejects.toThrow('cannot finalize an uninitialized modifier');
    await m.initialize(lc.state);
    await expect(m.initialize(lc.state)).rejects.toThrow('Cannot initialize a modifier that has already been initialized');
    await m.finalize(lc.state);
    await expect(m.finalize(lc.state)).rejects.toThrow('cannot finalize a modifier twice');
    await expect(m.initialize(lc.state)).rejects.toThrow('Cannot initialize a modifier that has already been');
  });

  it('a failing modifier: reset finalizes the ones already initialized and keeps going past errors', async () => {
    const lc = new CompressionLifecycle();
    await expect(
      lc.initialize({ recipe: [new RecordingModifier({ label: 'A' }), new RecordingModifier({ label: 'B', failOn: 'initialize' }), new RecordingModifier({ label: 'C' })] }),
    ).rejects.toThrow('B failed in initialize');
    expect(calls.splice(0)).toEqual(['A:initialize', 'B:initialize']);
    await lc.reset();
    expect(calls).toEqual(['A:finalize']);
    expect(lc.initialized).toBe(false);
    expect(lc.recipe).toBeUndefined();
  });

  it('modifiers whose algorithm is missing say so at initialize', async () => {
    const lc = new CompressionLifecycle();
    const err = await lc.initialize({ recipe: [new PendingModifier()] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotImplementedError);
    expect((err as Error).message).toBe('PendingModifier is not implemented yet in webgpu-compressor');
  });
});
