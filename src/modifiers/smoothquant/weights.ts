/**
 * Reading and rewriting module parameters for the smoothing transforms
 * (SmoothQuant, AWQ): f32 access, copies with the same chunking, and
 * in-place changes recorded on the Parameter so the pipeline never reloads
 * the original from the checkpoint.
 */
import type { Module } from '../../core/model.js';
import type { Hardware } from '../../gpu/hardware.js';
import { Tensor } from '../../gpu/tensor.js';
import { castToF32 } from '../../gpu/kernels/elementwise.js';

/**
 * The f32 values of `module.<local>` on the GPU (loaded if needed). A
 * parameter held in f16/bf16 is converted and replaced by its f32 copy, the
 * dtype the forward and the smoothing kernels work in.
 */
export async function parameterF32(hw: Hardware, module: Module, local: string): Promise<Tensor> {
  const p = module.getParameter(local);
  if (!p) throw new Error(`${module.name}.${local}: parameter missing`);
  const t = await p.get();
  if (t.dtype === 'f32') return t;
  if (t.dtype !== 'f16' && t.dtype !== 'bf16') throw new Error(`${module.name}.${local} is ${t.dtype}; smoothing needs float weights`);
  const f = castToF32(hw, t);
  p.set(f);
  return f;
}

/** A copy of `t` (f32) on new buffers with the same row chunks. */
export function cloneTensor(hw: Hardware, t: Tensor, label?: string): Tensor {
  const out = Tensor.empty(hw, t.shape, t.dtype, { label, maxChunkBytes: t.isChunked ? t.chunks[0].byteLength : undefined });
  if (out.chunks.length !== t.chunks.length) throw new Error(`cloneTensor: chunking of [${t.shape.join(', ')}] differs in the copy`);
  t.chunks.forEach((c, i) => {
    if (c.byteLength > 0) hw.batcher.copy(c.buffer, 0, out.chunks[i].buffer, 0, c.byteLength);
  });
  return out;
}

/** Records that `tensor` (modified in place, or a replacement) now holds `module.<local>`. */
export function commitParameter(module: Module, local: string, tensor: Tensor): void {
  const p = module.getParameter(local);
  if (!p) throw new Error(`${module.name}.${local}: parameter missing`);
  p.set(tensor);
}
