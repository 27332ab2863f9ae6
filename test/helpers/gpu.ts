import { afterAll } from 'vitest';
import { acquireHardware } from '../../src/gpu/node/acquire.js';
import type { Hardware } from '../../src/gpu/hardware.js';

let shared: Promise<Hardware> | undefined;

/**
 * One Hardware per test file, destroyed after the file's tests. Every GPU test
 * file calls this at top level.
 */
export function useHardware(): () => Promise<Hardware> {
  afterAll(async () => {
    if (shared) {
      const hw = await shared;
      shared = undefined;
      await hw.destroy();
    }
  });
  return () => (shared ??= acquireHardware());
}

/**
 * Runs `fn` inside validation and out-of-memory error scopes and fails if
 * either reports an error, so a stray validation error never passes silently.
 */
export async function inErrorScope<T>(hw: Hardware, fn: () => Promise<T> | T): Promise<T> {
  hw.device.pushErrorScope('out-of-memory');
  hw.device.pushErrorScope('validation');
  let result: T | undefined;
  let failure: unknown;
  try {
    result = await fn();
  } catch (e) {
    failure = e;
  }
  hw.batcher.flush();
  const validation = await hw.device.popErrorScope();
  const oom = await hw.device.popErrorScope();
  // A validation error explains a wrong result better than the result does.
  if (validation) throw new Error(`WebGPU validation error: ${validation.message}`);
  if (oom) throw new Error(`WebGPU out-of-memory error: ${oom.message}`);
  if (failure !== undefined) throw failure;
  return result as T;
}
