import type { Hardware } from '../../gpu/hardware.js';
import type { Tensor } from '../../gpu/tensor.js';
import type { GroupGeometry } from '../layout.js';

const WG = 256;

/** Flags of the observe kernels for a weight of `cols` columns. */
function flags(cols: number, subgroups: boolean | undefined): Record<string, boolean> {
  const f: Record<string, boolean> = { VEC4: cols % 4 === 0 };
  if (subgroups !== undefined) f.SUBGROUPS = subgroups;
  return f;
}

/** Resets `groups` min/max key pairs at word `offset` of `stats` (min key 0xffffffff, max key 0). */
export function initStats(hw: Hardware, stats: GPUBuffer, offset: number, groups: number): void {
  const kernel = hw.kernels.get({ shader: 'observe', entryPoint: 'initStats', flags: { VEC4: false }, constants: { WG } });
  kernel.run(hw.batcher, {
    bindings: { stats },
    uniforms: {
      rows: 0, cols: 0, inRowBase: 0, globalRowBase: 0, groupRows: 1, groupCols: 1, nGroupCols: 1,
      nUnits: groups, nWorkgroups: Math.ceil(groups / WG), segsPerRow: 1, statsOffset: offset,
    },
    workgroups: Math.ceil(groups / WG),
  });
}

/** Segments of 32 elements each observeTensor invocation reads (TENSOR_SEGS in shaders/observe.wgsl). */
const TENSOR_SEGS = 8;

/**
 * Accumulates the per-group min/max of `weight` (f32 `[rows, cols]`) into
 * `stats` at word `offset` (two words per group, {@link initStats} first),
 * one dispatch per chunk of the weight. A `geometry` of a single group takes
 * the flat whole-tensor kernel (observeTensor).
 */
export function observeMinMax(hw: Hardware, weight: Tensor, geometry: GroupGeometry, stats: GPUBuffer, offset: number, subgroups?: boolean): void {
  const cols = weight.shape[1];
  const single = geometry.nGroupRows * geometry.nGroupCols === 1;
  const entryPoint = single ? 'observeTensor' : 'observeMinMax';
  const kernel = hw.kernels.get({ shader: 'observe', entryPoint, flags: flags(cols, subgroups), constants: { WG } });
  const segsPerRow = Math.ceil(cols / 32);
  for (const c of weight.chunks) {
    if (c.rows === 0) continue;
    const units = single ? Math.ceil((c.rows * cols) / 32) : c.rows * segsPerRow;
    const nWorkgroups = Math.ceil(units / (single ? TENSOR_SEGS * WG : WG));
    kernel.run(hw.batcher, {
      bindings: { w: { buffer: c.buffer, size: c.byteLength }, stats },
      uniforms: {
        rows: c.rows, cols, inRowBase: 0, globalRowBase: c.rowStart, groupRows: geometry.groupRows, groupCols: geometry.groupCols,
        nGroupCols: geometry.nGroupCols, nUnits: units, nWorkgroups, segsPerRow, statsOffset: offset,
      },
      workgroups: nWorkgroups,
    });
  }
}
