import type { Hardware } from '../../gpu/hardware.js';
import type { BufferSlice } from '../../gpu/kernel.js';
import type { FakeQuantUniforms } from '../fakeQuantUniforms.js';

/** Workgroup size of shaders/actquant.wgsl. */
export const ACTQUANT_WG = 256;

/** Load units one observeTensor workgroup reduces (16 per invocation). */
export const OBSERVE_BLOCK_UNITS = ACTQUANT_WG * 16;

/** Word offsets in the `qp` buffer (see shaders/actquant.wgsl). */
export const QP_WORDS = { scale: 0, zeroPoint: 1, globalScale: 2, minKeyInverted: 3, maxKey: 4 } as const;
/** Length of the `qp` buffer in u32 words. */
export const QP_LENGTH = 8;

/** How the kernel obtains a group's qparams (the `MODE` override). */
export type ActQuantMode = 'observe' | 'static' | 'tensorStats';

/** Numeric uniforms shared with lib/fakequant.wgsl. */
export type ActQuantNumerics = FakeQuantUniforms;

/** Pipeline constants of lib/fakequant.wgsl. */
export interface ActQuantOverrides {
  QTYPE: number;
  SYMMETRIC: boolean;
  SCALE_KIND: number;
  FP8_SCALE: boolean;
  DIV_JITTER: boolean;
}

function constantsOf(o: ActQuantOverrides, mode: ActQuantMode): Record<string, number> {
  return {
    WG: ACTQUANT_WG,
    MODE: mode === 'observe' ? 0 : mode === 'static' ? 1 : 2,
    QTYPE: o.QTYPE,
    // The packed field is unused here; 8 keeps every int width representable.
    BITS: 8,
    PACK_MODE: 1,
    SYMMETRIC: o.SYMMETRIC ? 1 : 0,
    SCALE_KIND: o.SCALE_KIND,
    FP8_SCALE: o.FP8_SCALE ? 1 : 0,
    // Activations are f32 in this forward, so every op runs in f32.
    DTYPE: 0,
    TDT: 0,
    RECIPROCAL_DIV: 0,
    DIV_JITTER: o.DIV_JITTER ? 1 : 0,
  };
}

/**
 * Records one fakeQuantize dispatch over `units` load units of one chunk:
 * `nGroups` groups of `groupUnits` units each (vec4 units when `vec4`).
 */
export function dispatchFakeQuantize(
  hw: Hardware,
  mode: ActQuantMode,
  n: ActQuantNumerics,
  o: ActQuantOverrides,
  buffers: { x: BufferSlice; y: BufferSlice; qp: BufferSlice },
  layout: { vec4: boolean; groupUnits: number; nGroups: number },
): void {
  const kernel = hw.kernels.get({ shader: 'actquant', entryPoint: 'fakeQuantize', flags: { VEC4: layout.vec4 }, constants: constantsOf(o, mode) });
  // Enough lanes per group for coalesced loads, and as many groups per workgroup as fit.
  const lanes = Math.min(layout.groupUnits, ACTQUANT_WG);
  const slots = Math.floor(ACTQUANT_WG / lanes);
  const workgroups = Math.ceil(layout.nGroups / slots);
  kernel.run(hw.batcher, {
    bindings: buffers,
    uniforms: {
      ...n,
      groupUnits: layout.groupUnits,
      nGroups: layout.nGroups,
      nUnits: layout.groupUnits * layout.nGroups,
      lanes,
      slots,
      nWorkgroups: workgroups,
    },
    workgroups,
  });
}

/** Records the observeTensor dispatch folding `units` units of one chunk into the min/max keys of `stats`. */
export function dispatchObserveTensor(hw: Hardware, n: ActQuantNumerics, o: ActQuantOverrides, buffers: { x: BufferSlice; stats: BufferSlice }, layout: { vec4: boolean; units: number }): void {
  const kernel = hw.kernels.get({ shader: 'actquant', entryPoint: 'observeTensor', flags: { VEC4: layout.vec4 }, constants: constantsOf(o, 'tensorStats') });
  const workgroups = Math.ceil(layout.units / OBSERVE_BLOCK_UNITS);
  kernel.run(hw.batcher, {
    bindings: buffers,
    uniforms: { ...n, groupUnits: OBSERVE_BLOCK_UNITS, nGroups: workgroups, nUnits: layout.units, lanes: ACTQUANT_WG, slots: 1, nWorkgroups: workgroups },
    workgroups,
  });
}
