import type { Hardware } from '../../gpu/hardware.js';
import type { Tensor } from '../../gpu/tensor.js';
import { f32Buffer } from './util.js';

const WG = 256;

/** Target id meaning "no next token": the kernel writes 0 for that row. */
export const NO_TARGET = 0xffffffff;

/**
 * nll[outOffset + r] = logsumexp(logits[r]) − logits[r, targets[outOffset + r]]
 * for each row r of a logits block [rows, V] (V % 4 == 0). `targets` (u32)
 * and `nll` (f32) cover every row of the sequence batch; the block writes its
 * own range, so a caller projecting logits block by block fills them in turn.
 */
export function logSoftmaxNll(hw: Hardware, logits: Tensor, targets: Tensor, nll: Tensor, outOffset = 0): void {
  if (logits.shape.length !== 2) throw new Error(`logSoftmaxNll: logits must be [rows, vocab], got [${logits.shape.join(', ')}]`);
  const [rows, vocab] = logits.shape;
  if (vocab % 4 !== 0) throw new Error(`logSoftmaxNll: vocabulary ${vocab} must be a multiple of 4`);
  if (targets.dtype !== 'u32') throw new Error(`logSoftmaxNll: targets must be u32, got ${targets.dtype}`);
  if (outOffset + rows > targets.numel || outOffset + rows > nll.numel) {
    throw new Error(`logSoftmaxNll: rows [${outOffset}, ${outOffset + rows}) exceed targets (${targets.numel}) or nll (${nll.numel})`);
  }
  hw.kernels.get({ shader: 'nll', entryPoint: 'logSoftmaxNll', constants: { WG } }).run(hw.batcher, {
    bindings: { logits: f32Buffer(logits, 'logits', 'logSoftmaxNll'), targets: targets.buffer, nll: f32Buffer(nll, 'nll', 'logSoftmaxNll') },
    uniforms: { rows, v4: vocab / 4, outOffset, _pad: 0 },
    workgroups: rows,
  });
}
