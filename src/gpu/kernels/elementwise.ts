import type { Hardware } from '../hardware.js';
import { Tensor } from '../tensor.js';

const WG = 256;

/** Converts an f16 or bf16 tensor to a new f32 tensor on the GPU. */
export function castToF32(hw: Hardware, input: Tensor): Tensor {
  if (input.dtype !== 'f16' && input.dtype !== 'bf16') throw new Error(`castToF32: expected f16 or bf16, got ${input.dtype}`);
  const out = Tensor.empty(hw, input.shape, 'f32');
  const kernel = hw.kernels.get({ shader: 'elementwise', entryPoint: input.dtype === 'f16' ? 'castF16ToF32' : 'castBf16ToF32', constants: { WG } });
  const rowElems = input.rowElems;
  // f32 rows are twice as large as f16 rows, so the output may be split into
  // more chunks than the input: run one dispatch per overlap of the two.
  for (const ic of input.chunks) {
    for (const oc of out.chunks) {
      const a = Math.max(ic.rowStart, oc.rowStart);
      const b = Math.min(ic.rowStart + ic.rows, oc.rowStart + oc.rows);
      if (b <= a) continue;
      const srcElem = (a - ic.rowStart) * rowElems;
      if (srcElem % 2 !== 0) throw new Error(`castToF32: tensor [${input.shape.join(', ')}] splits mid-word; use an even row length`);
      const n = (b - a) * rowElems;
      const words = Math.ceil(n / 2);
      kernel.run(hw.batcher, {
        bindings: { src: ic.buffer, dst: oc.buffer },
        uniforms: { count: words, n, value: 0, srcOffset: srcElem / 2, dstOffset: (a - oc.rowStart) * rowElems },
        workgroups: Math.ceil(words / WG),
      });
    }
  }
  return out;
}

/** Fills every word of `t` with the raw bits `bits` (NaN by default): test poisoning. */
export function fillWords(hw: Hardware, t: Tensor, bits = 0x7fc00000): void {
  const kernel = hw.kernels.get({ shader: 'elementwise', entryPoint: 'fillWords', constants: { WG } });
  for (const c of t.chunks) {
    const words = c.byteLength / 4;
    kernel.run(hw.batcher, {
      bindings: { words: c.buffer },
      uniforms: { count: words, n: 0, value: bits >>> 0, srcOffset: 0, dstOffset: 0 },
      workgroups: Math.ceil(words / WG),
    });
  }
}

/** Copies `bytes` (a multiple of 16) from `src` to `dst` with the vec4 copy kernel. */
export function copyVec4(hw: Hardware, src: GPUBuffer, dst: GPUBuffer, bytes: number): void {
  if (bytes % 16 !== 0) throw new Error(`copyVec4: ${bytes} bytes is not a multiple of 16`);
  const kernel = hw.kernels.get({ shader: 'elementwise', entryPoint: 'copyVec4', constants: { WG } });
  const count = bytes / 16;
  kernel.run(hw.batcher, {
    bindings: { src4: { buffer: src, size: bytes }, dst4: { buffer: dst, size: bytes } },
    uniforms: { count, n: 0, value: 0, srcOffset: 0, dstOffset: 0 },
    workgroups: Math.ceil(count / WG),
  });
}
