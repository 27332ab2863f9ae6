import type { Hardware } from '../../gpu/hardware.js';
import { Tensor } from '../../gpu/tensor.js';
import { f32Buffer, nextPow2 } from './util.js';

const WG = 256;

function launch(hw: Hardware, rows: number, n: number, eps: number, bindings: Record<string, GPUBuffer>, residual: boolean): void {
  const n4 = n / 4;
  // Enough threads to cover a row once with vec4 loads, at most the whole workgroup.
  const tpr = Math.min(WG, nextPow2(n4));
  const kernel = hw.kernels.get({ shader: 'rmsnorm', entryPoint: 'rmsNorm', flags: { RESIDUAL: residual }, constants: { WG, TPR: tpr } });
  kernel.run(hw.batcher, {
    bindings,
    uniforms: { rows, n4, eps, invN: 1 / n },
    workgroups: Math.ceil(rows / (WG / tpr)),
  });
}

function checkShapes(x: Tensor, weight: Tensor, kernel: string): { rows: number; n: number } {
  const n = weight.numel;
  if (n % 4 !== 0) throw new Error(`${kernel}: row length ${n} must be a multiple of 4`);
  if (x.numel % n !== 0) throw new Error(`${kernel}: input [${x.shape.join(', ')}] is not a whole number of rows of ${n}`);
  return { rows: x.numel / n, n };
}

/**
 * RMSNorm of every row of `x` (row length = weight length):
 * y = x / sqrt(mean(x²) + eps) · weight. Rows may be tokens (hidden size) or
 * heads (Qwen3's q/k norm over head_dim).
 */
export function rmsNorm(hw: Hardware, x: Tensor, weight: Tensor, eps: number, out?: Tensor): Tensor {
  const { rows, n } = checkShapes(x, weight, 'rmsNorm');
  const y = out ?? Tensor.empty(hw, x.shape, 'f32');
  if (y.numel !== x.numel) throw new Error(`rmsNorm: out [${y.shape.join(', ')}] does not match input [${x.shape.join(', ')}]`);
  launch(hw, rows, n, eps, { x: f32Buffer(x, 'input', 'rmsNorm'), weight: f32Buffer(weight, 'weight', 'rmsNorm'), y: f32Buffer(y, 'out', 'rmsNorm') }, false);
  return y;
}

/**
 * Fused residual add and RMSNorm: `sum = h + delta` (the residual stream
 * after a block) and `normed = rmsNorm(sum)` (the next block's input), in
 * one pass. `h` is left unchanged.
 */
export function addRmsNorm(hw: Hardware, h: Tensor, delta: Tensor, weight: Tensor, eps: number, out: { sum?: Tensor; normed?: Tensor } = {}): { sum: Tensor; normed: Tensor } {
  const { rows, n } = checkShapes(h, weight, 'addRmsNorm');
  if (delta.numel !== h.numel) throw new Error(`addRmsNorm: delta [${delta.shape.join(', ')}] does not match the residual [${h.shape.join(', ')}]`);
  const sum = out.sum ?? Tensor.empty(hw, h.shape, 'f32');
  const normed = out.normed ?? Tensor.empty(hw, h.shape, 'f32');
  launch(
    hw, rows, n, eps,
    {
      h: f32Buffer(h, 'residual', 'addRmsNorm'),
      delta: f32Buffer(delta, 'delta', 'addRmsNorm'),
      sum: f32Buffer(sum, 'sum', 'addRmsNorm'),
      weight: f32Buffer(weight, 'weight', 'addRmsNorm'),
      y: f32Buffer(normed, 'out', 'addRmsNorm'),
    },
    true,
  );
  return { sum, normed };
}
