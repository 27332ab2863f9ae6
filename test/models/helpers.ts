import { expect } from 'vitest';
import type { Hardware } from '../../src/gpu/hardware.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { fillWords } from '../../src/gpu/kernels/elementwise.js';

/** An f32 output tensor filled with NaN so that elements a kernel fails to write are caught. */
export function poisoned(hw: Hardware, shape: number[]): Tensor {
  const t = Tensor.empty(hw, shape, 'f32');
  fillWords(hw, t);
  return t;
}

/**
 * Largest |got − want| / (atol + rtol·|want|) over all elements; > 1 fails.
 * NaN in `got` (an unwritten, poisoned element) fails.
 */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: { atol: number; rtol: number }, context: string): void {
  expect(got.length, `${context}: length`).toBe(want.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    if (!Number.isFinite(g)) throw new Error(`${context}: element ${i} is ${g} (want ${want[i]})`);
    const r = Math.abs(g - want[i]) / (tol.atol + tol.rtol * Math.abs(want[i]));
    if (r > worst) {
      worst = r;
      at = i;
    }
  }
  if (worst > 1) throw new Error(`${context}: element ${at} is ${got[at]}, want ${want[at]} (error ${worst.toFixed(2)}× the tolerance atol=${tol.atol} rtol=${tol.rtol})`);
}

export { expectNoRaces, relMaxError } from '../helpers/races.js';
