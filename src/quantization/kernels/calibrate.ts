/** Dispatch of shaders/calibrate.wgsl: the running state of activation observers. */
import type { Hardware } from '../../gpu/hardware.js';

/**
 * Folds the batch min/max keys in words 0–1 of `state` into the moving
 * average in words 2–3 (the `minmax` observer; `first` takes the batch as is).
 */
export function emaMinMax(hw: Hardware, state: GPUBuffer, first: boolean, averagingConstant: number): void {
  const kernel = hw.kernels.get({ shader: 'calibrate', entryPoint: 'emaMinMax' });
  kernel.run(hw.batcher, {
    bindings: { state: { buffer: state, size: 16 } },
    // torch evaluates `x * (1.0 - c)` with the python float rounded to f32.
    uniforms: { first: first ? 1 : 0, c: Math.fround(averagingConstant), oneMinusC: Math.fround(1 - averagingConstant), _p0: 0 },
    workgroups: 1,
  });
}
