import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { activeSession, callbacks, createSession, resetSession, CompressionSession } from '../../src/core/session.js';
import { calls, RecordingModifier } from './recording.js';

beforeEach(() => {
  calls.length = 0;
});
afterEach(async () => {
  await resetSession();
});

describe('session scoping', () => {
  it('activeSession() falls back to one process-wide session', () => {
    const s = activeSession();
    expect(s).toBeInstanceOf(CompressionSession);
    expect(activeSession()).toBe(s);
  });

  it('createSession(callback): active while the callback runs, restored after, result returned', async () => {
    const outer = activeSession();
    const result = await createSession(async (s) => {
      expect(activeSession()).toBe(s);
      expect(s).not.toBe(outer);
      await Promise.resolve();
      expect(activeSession()).toBe(s);
      return 42;
    });
    expect(result).toBe(42);
    expect(activeSession()).toBe(outer);
  });

  it('createSession(callback) restores the previous session when the callback throws', async () => {
    const outer = activeSession();
    await expect(
      createSession(() => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(activeSession()).toBe(outer);
  });

  it('`using` scopes nest and unwind', () => {
    const outer = activeSession();
    {
      using a = createSession();
      expect(activeSession()).toBe(a);
      {
        using b = createSession();
        expect(activeSession()).toBe(b);
      }
      expect(activeSession()).toBe(a);
    }
    expect(activeSession()).toBe(outer);
  });

  it('scopes closed out of order remove only themselves', () => {
    const outer = activeSession();
    const a = createSession();
    const b = createSession();
    a.close();
    expect(activeSession()).toBe(b);
    b.close();
    b.close();
    expect(activeSession()).toBe(outer);
  });

  it('callbacks act on the active session; session.callbacks on their own', async () => {
    await createSession(async (s) => {
      await s.initialize({ recipe: [new RecordingModifier({ label: 'A' })] });
      await callbacks.calibrationStart();
      await callbacks.sequentialEpochEnd({ index: 0, count: 1, modules: [] });
      await callbacks.calibrationEnd();
      const inner = await createSession(async (t) => {
        await t.initialize({ recipe: [new RecordingModifier({ label: 'B' })] });
        await s.callbacks.batchStart({ x: 1 }); // explicit session: A, not B
        await callbacks.batchStart(); // active session: B
        await callbacks.lossCalculated(0.25);
        await callbacks.optimPreStep();
        await callbacks.optimPostStep();
        await callbacks.batchEnd();
        return t;
      });
      await expect(callbacks.event('initialize')).rejects.toThrow('Cannot invoke initialize event');
      expect(inner.state.loss).toBe(0.25);
      expect(s.state.batchData).toEqual({ x: 1 });
      await s.finalize();
      expect(s.getSerializedRecipe()).toContain('RecordingModifier');
    });
    expect(calls).toEqual([
      'A:initialize',
      'A:event(calibration_start)',
      'A:calibrationStart',
      'A:event(sequential_epoch_end)',
      'A:sequentialEpochEnd#0/1',
      'A:event(calibration_end)',
      'A:calibrationEnd',
      'B:initialize',
      'A:event(batch_start)',
      'B:event(batch_start)',
      'B:event(loss_calculated)',
      'B:event(optim_pre_step)',
      'B:event(optim_post_step)',
      'B:event(batch_end)',
      'A:finalize',
    ]);
  });

  it('resetSession() finalizes what the active session left initialized', async () => {
    await createSession(async (s) => {
      await s.initialize({ recipe: [new RecordingModifier({ label: 'A' })] });
      await resetSession();
      expect(s.lifecycle.initialized).toBe(false);
      expect(s.getSerializedRecipe()).toBeUndefined();
    });
    expect(calls).toEqual(['A:initialize', 'A:finalize']);
  });
});
