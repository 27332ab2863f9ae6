import type { Hardware } from '../../gpu/hardware.js';
import { Tensor } from '../../gpu/tensor.js';
import { f32Buffer } from './util.js';

const WG = 256;

/** SwiGLU activation: silu(gate) · up, elementwise. */
export function siluMul(hw: Hardware, gate: Tensor, up: Tensor, out?: Tensor): Tensor {
  if (gate.numel !== up.numel) throw new Error(`siluMul: gate [${gate.shape.join(', ')}] and up [${up.shape.join(', ')}] differ`);
  if (gate.numel % 4 !== 0) throw new Error(`siluMul: ${gate.numel} elements is not a multiple of 4`);
  const y = out ?? Tensor.empty(hw, gate.shape, 'f32');
  const count = gate.numel / 4;
  hw.kernels.get({ shader: 'activation', entryPoint: 'siluMul', flags: { SILU_MUL: true }, constants: { WG } }).run(hw.batcher, {
    bindings: { gate: f32Buffer(gate, 'gate', 'siluMul'), up: f32Buffer(up, 'up', 'siluMul'), out: f32Buffer(y, 'out', 'siluMul') },
    uniforms: { count },
    workgroups: Math.ceil(count / WG),
  });
  return y;
}

/** Elementwise sum a + b into a new (or the given) tensor: the residual add closing a layer. */
export function add(hw: Hardware, a: Tensor, b: Tensor, out?: Tensor): Tensor {
  if (a.numel !== b.numel) throw new Error(`add: [${a.shape.join(', ')}] and [${b.shape.join(', ')}] differ`);
  if (a.numel % 4 !== 0) throw new Error(`add: ${a.numel} elements is not a multiple of 4`);
  const y = out ?? Tensor.empty(hw, a.shape, 'f32');
  const count = a.numel / 4;
  hw.kernels.get({ shader: 'activation', entryPoint: 'add', flags: { SILU_MUL: false }, constants: { WG } }).run(hw.batcher, {
    bindings: { a: f32Buffer(a, 'a', 'add'), b: f32Buffer(b, 'b', 'add'), out: f32Buffer(y, 'out', 'add') },
    uniforms: { count },
    workgroups: Math.ceil(count / WG),
  });
  return y;
}
