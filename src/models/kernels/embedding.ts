import type { Hardware } from '../../gpu/hardware.js';
import { Tensor } from '../../gpu/tensor.js';
import { f32Buffer } from './util.js';

const WG = 256;

/**
 * Embedding lookup: out[r] = table[ids[r]] for a u32 `ids` tensor of N tokens
 * and an f32 table [vocab, hidden] that may be split into row chunks. Ids
 * must be checked against the vocabulary by the caller (the kernel skips ids
 * in no chunk, leaving their rows unwritten).
 */
export function embedTokens(hw: Hardware, table: Tensor, ids: Tensor, out?: Tensor): Tensor {
  if (table.dtype !== 'f32' || table.shape.length !== 2) throw new Error(`embedTokens: table must be f32 [vocab, hidden], got ${table.dtype} [${table.shape.join(', ')}]`);
  if (ids.dtype !== 'u32' && ids.dtype !== 'i32') throw new Error(`embedTokens: ids must be u32, got ${ids.dtype}`);
  const hidden = table.shape[1];
  if (hidden % 4 !== 0) throw new Error(`embedTokens: hidden size ${hidden} must be a multiple of 4`);
  const n = ids.numel;
  const y = out ?? Tensor.empty(hw, [n, hidden], 'f32');
  if (y.numel !== n * hidden) throw new Error(`embedTokens: out [${y.shape.join(', ')}] is not [${n}, ${hidden}]`);
  const h4 = hidden / 4;
  const kernel = hw.kernels.get({ shader: 'embedding', entryPoint: 'gatherRows', constants: { WG } });
  for (const c of table.chunks) {
    kernel.run(hw.batcher, {
      bindings: { ids: ids.buffer, table: c.buffer, out: f32Buffer(y, 'out', 'embedTokens') },
      uniforms: { count: n * h4, h4, rowStart: c.rowStart, chunkRows: c.rows },
      workgroups: Math.ceil((n * h4) / WG),
    });
  }
  return y;
}
