import type { Hardware } from '../hardware.js';
import { Tensor } from '../tensor.js';

/** Reduction applied to each segment. `minmax` yields two values (min, max). */
export type ReduceOp = 'sum' | 'max' | 'absmax' | 'minmax';

const OP_CODE: Record<ReduceOp, number> = { sum: 0, max: 1, absmax: 2, minmax: 3 };

export interface ReduceOptions {
  /**
   * Segment length along the last dimension: the whole row when omitted
   * (per-row / per-channel), else a group size (per-group; a shorter last
   * group per row when the row length is not a multiple).
   */
  segment?: number;
  /** Use the workgroup-memory tree even when subgroups are available (tests, benchmarks). */
  forceWorkgroupMemory?: boolean;
  /** Write into this tensor (of the output shape) instead of allocating one. */
  out?: Tensor;
}

/**
 * Reduces an f32 tensor viewed as rows of its last dimension, per row or per
 * group. Output: [rows, groups] (or [rows, groups, 2] for `minmax`).
 */
export function reduceSegments(hw: Hardware, x: Tensor, op: ReduceOp, options: ReduceOptions = {}): Tensor {
  if (x.dtype !== 'f32') throw new Error(`reduceSegments: f32 input required, got ${x.dtype}`);
  const rowLen = x.shape.length === 0 ? 1 : x.shape[x.shape.length - 1];
  const rows = rowLen === 0 ? 0 : x.numel / rowLen;
  const segLen = options.segment ?? rowLen;
  if (!Number.isInteger(segLen) || segLen < 1) throw new Error(`reduceSegments: segment must be a positive integer, got ${segLen}`);
  const segsPerRow = Math.ceil(rowLen / segLen);
  const perSeg = op === 'minmax' ? 2 : 1;
  const outShape = op === 'minmax' ? [rows, segsPerRow, 2] : [rows, segsPerRow];
  if (x.shape.length <= 1 && x.isChunked) throw new Error(`reduceSegments: a 1-D tensor larger than one binding must be reshaped into rows first`);
  const out = options.out ?? Tensor.empty(hw, outShape, 'f32');
  if (out.numel !== rows * segsPerRow * perSeg || out.dtype !== 'f32') throw new Error(`reduceSegments: out must be f32 [${outShape.join(', ')}]`);
  if (out.isChunked) throw new Error(`reduceSegments: output of ${rows * segsPerRow * perSeg} values exceeds one binding`);
  const wg = Math.min(256, Math.max(32, 2 ** Math.ceil(Math.log2(segLen))));
  const subgroups = hw.caps.subgroups && !options.forceWorkgroupMemory;
  const kernel = hw.kernels.get({
    shader: 'reduce',
    entryPoint: 'reduceSegments',
    flags: { SUBGROUPS: subgroups },
    constants: { WG: wg, OP: OP_CODE[op] },
  });
  // Chunks hold whole leading-dimension rows, hence whole reduction rows.
  const rowsPerLead = x.shape.length <= 1 ? 1 : x.rowElems / rowLen;
  for (const c of x.chunks) {
    const segments = c.rows * rowsPerLead * segsPerRow;
    if (segments === 0) continue;
    kernel.run(hw.batcher, {
      bindings: { x: c.buffer, out: out.buffer },
      uniforms: {
        segments,
        segLen,
        rowLen,
        segsPerRow,
        outBase: x.shape.length <= 1 ? 0 : c.rowStart * rowsPerLead * segsPerRow,
        _p0: 0,
        _p1: 0,
        _p2: 0,
      },
      workgroups: segments,
    });
  }
  return out;
}
