import type { Hardware } from '../../gpu/hardware.js';
import type { BufferSlice } from '../../gpu/kernel.js';
import type { FakeQuantUniforms } from '../fakeQuantUniforms.js';

/** Workgroup size of the quantize kernels. */
export const QUANTIZE_WG = 256;

/** The quantize and mse-search entry points of shaders/quantize.wgsl. */
export type QuantizeEntry = 'quantizeLanes' | 'quantizeRows' | 'quantizeGroups' | 'quantizeSegments' | 'mseGroups' | 'mseSegments';

/**
 * Uniforms that stay the same for every dispatch over one weight (see the
 * Params comment in shaders/quantize.wgsl for each field's meaning).
 */
export interface QuantizeConstants extends FakeQuantUniforms {
  cols: number;
  groupRows: number;
  groupCols: number;
  nGroupCols: number;
  nGroups: number;
  tpg: number;
  segsPerRow: number;
  rowWords: number;
  mseSteps: number;
  msePatience: number;
  mseNorm: number;
  mseExpand: number;
  globalStatsOffset: number;
  statsOffset: number;
  maskOffset: number;
  shrinkOffset: number;
  zpOffset: number;
  gsOffset: number;
  /** Where tensorSetup leaves the per-tensor LaneSetup for quantizeLanes (TENSOR_LANES), in qp words. */
  setupOffset: number;
  /** Largest subgroup size the device may run quantizeRows with (its workgroup count is planned for it). */
  sgMax: number;
}

/**
 * Pipeline constants (WGSL `override`s) that select the code each
 * dispatch runs: everything a branch depends on, so the compiler drops the
 * untaken ones. Every distinct combination is its own cached pipeline.
 */
export interface QuantizeOverrides {
  QTYPE: number;
  BITS: number;
  PACK_MODE: number;
  SYMMETRIC: boolean;
  SCALE_KIND: number;
  FP8_SCALE: boolean;
  DTYPE: number;
  TDT: number;
  RECIPROCAL_DIV: boolean;
  STATS_MODE: number;
  MSE: boolean;
  WRITE_FAKE: boolean;
  DIV_JITTER: boolean;
  /** Elements per invocation of quantizeLanes / quantizeRows (a power of two filling whole words). */
  EPT: number;
  /** Workgroup size of quantizeLanes / quantizeRows (default QUANTIZE_WG). */
  WG?: number;
  /**
   * Nonzero: quantizeLanes quantizes the whole weight with one (per-tensor)
   * scale, and this many lanes (a power of two up to the smallest subgroup
   * and 32) share a fixup flag word and an error partial.
   */
  TENSOR_LANES?: number;
}

/** Override values as numbers (booleans as 0/1), the form pipeline constants take. */
export function overrideConstants(o: QuantizeOverrides): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) out[k] = typeof v === 'boolean' ? (v ? 1 : 0) : v;
  return out;
}

/** One dispatch: a run of whole rows of the weight and where its pieces are bound. */
export interface QuantizeRange {
  /** Rows covered and the first of them in the whole weight. */
  rows: number;
  globalRowBase: number;
  /** Weight chunk holding the rows, and the first covered row inside it. */
  weight: BufferSlice;
  inRowBase: number;
  /** Packed-output chunk and the first covered row inside it. */
  packed: BufferSlice;
  outRowBase: number;
  /** Fake-quant output chunk (same row split as the weight) or a dummy. */
  fake: BufferSlice;
}

/** Bindings shared by all dispatches of one weight. */
export interface QuantizeBuffers {
  /** scales, zero points, global scale, error partials (u32 words). */
  qp: BufferSlice;
  /** global stats, per-group stats, mse masks, shrink factors (u32 words). */
  aux: BufferSlice;
  /**
   * The subgroup paths' fixup list and flag words (usage FIXUP_LIST_USAGE),
   * laid out by {@link fixupLayout} for the largest dispatch.
   */
  fixups?: GPUBuffer;
}

/** Where a dispatch's fixup list and flag words lie in the fixups buffer (bytes). */
export interface FixupLayout {
  /** Indirect counts, length, one entry per EPT-element chunk, from offset 0. */
  listBytes: number;
  /** The main kernel's flag words (one per 32 chunks of a group), at an offset storage bindings accept. */
  flagsOffset: number;
  flagsBytes: number;
  totalBytes: number;
}

/** Storage binding offsets must be multiples of this (the WebGPU default minStorageBufferOffsetAlignment and its largest allowed value). */
const STORAGE_OFFSET_ALIGN = 256;

/** The fixups buffer of a subgroup-path dispatch of `rows` rows (groups tile whole rows). */
export function fixupLayout(c: QuantizeConstants, o: QuantizeOverrides, rows: number): FixupLayout {
  const chunks = (rows * c.cols) / o.EPT;
  const listBytes = 4 * (4 + chunks);
  const flagsOffset = Math.ceil(listBytes / STORAGE_OFFSET_ALIGN) * STORAGE_OFFSET_ALIGN;
  const flagsBytes = o.TENSOR_LANES ? 4 * Math.ceil(chunks / o.TENSOR_LANES) : 4 * rows * c.nGroupCols * Math.ceil(c.groupCols / o.EPT / 32);
  return { listBytes, flagsOffset, flagsBytes, totalBytes: flagsOffset + flagsBytes };
}

/** Flag words listFixups reads per invocation (LIST_WORDS in shaders/quantize.wgsl). */
const LIST_WORDS = 16;
/** Workgroup size of listFixups and quantizeLanesFixup (FIX_WG). */
const FIX_WG = 64;

const headers = new WeakMap<GPUDevice, GPUBuffer>();

/** A 16-byte buffer holding an empty fixup list's header (x = 0, y = 1, z = 1, count = 0), one per device. */
function fixupHeader(device: GPUDevice): GPUBuffer {
  let b = headers.get(device);
  if (!b) {
    b = device.createBuffer({ size: 16, usage: 0x0004 /* COPY_SRC */, mappedAtCreation: true, label: 'wgc-fixup-header' });
    new Uint32Array(b.getMappedRange()).set([0, 1, 1, 0]);
    b.unmap();
    headers.set(device, b);
  }
  return b;
}

/** Usage of the fixup list: written by kernels, read as indirect dispatch counts, reset by a copy. */
export const FIXUP_LIST_USAGE = 0x0080 /* STORAGE */ | 0x0100 /* INDIRECT */ | 0x0008 /* COPY_DST */;

/**
 * Invocation units and workgroups one dispatch of `entry` needs for `rows`
 * rows, and how many error partials (two words each) it writes: one per
 * workgroup, or one per group for quantizeLanes.
 */
export function workgroupsFor(entry: QuantizeEntry, c: QuantizeConstants, o: QuantizeOverrides, rows: number): { units: number; workgroups: number; partials: number } {
  const wg = o.WG ?? QUANTIZE_WG;
  if (entry === 'quantizeLanes') {
    const units = (rows * c.cols) / o.EPT;
    const partials = o.TENSOR_LANES ? Math.ceil(units / o.TENSOR_LANES) : (rows * c.cols) / c.groupCols;
    return { units, workgroups: Math.ceil(units / wg), partials };
  }
  if (entry === 'quantizeRows') {
    // One subgroup per group, of at most sgMax invocations.
    const units = (rows * c.cols) / c.groupCols;
    return { units, workgroups: Math.ceil((units * c.sgMax) / wg), partials: units };
  }
  if (entry === 'quantizeGroups' || entry === 'mseGroups') {
    const units = Math.ceil(rows / c.groupRows) * c.nGroupCols;
    const workgroups = Math.ceil(units / (QUANTIZE_WG / c.tpg));
    return { units, workgroups, partials: workgroups };
  }
  const units = rows * c.segsPerRow;
  const workgroups = Math.ceil(units / QUANTIZE_WG);
  return { units, workgroups, partials: workgroups };
}

/**
 * Records one dispatch of a quantize-family entry point. `errOffset` is where
 * this dispatch's error partials (2 words each) start in `qp`; returns how
 * many it writes.
 */
export function dispatchQuantize(
  hw: Hardware,
  entry: QuantizeEntry,
  c: QuantizeConstants,
  o: QuantizeOverrides,
  range: QuantizeRange,
  buffers: QuantizeBuffers,
  errOffset: number,
  subgroups?: boolean,
): number {
  const flags: Record<string, boolean> = { VEC4: c.cols % 4 === 0 };
  if (subgroups !== undefined) flags.SUBGROUPS = subgroups;
  const constants = overrideConstants(o);
  const kernel = hw.kernels.get({ shader: 'quantize', entryPoint: entry, flags, constants: { WG: QUANTIZE_WG, ...constants } });
  const { units, workgroups, partials } = workgroupsFor(entry, c, o, range.rows);
  const search = entry === 'mseGroups' || entry === 'mseSegments';
  // Both subgroup kernels list EPT-element chunks for the exact fixup pass.
  const lanes = entry === 'quantizeLanes' || entry === 'quantizeRows';
  const bindings: Record<string, BufferSlice> = search
    ? { w: range.weight, masks: buffers.aux }
    : { w: range.weight, packed: range.packed, qp: buffers.qp, fake: range.fake, aux: buffers.aux };
  const layout = lanes ? fixupLayout(c, o, range.rows) : null;
  if (layout) {
    if (!buffers.fixups) throw new Error('dispatchQuantize: quantizeLanes needs a fixup list');
    bindings.fixWords = { buffer: buffers.fixups, offset: layout.flagsOffset, size: layout.flagsBytes };
    hw.batcher.copy(fixupHeader(hw.device), 0, buffers.fixups, 0, 16);
  }
  const uniforms = {
    ...c,
    rows: range.rows,
    inRowBase: range.inRowBase,
    outRowBase: range.outRowBase,
    globalRowBase: range.globalRowBase,
    nUnits: units,
    nWorkgroups: workgroups,
    errOffset,
  };
  if (o.TENSOR_LANES && entry === 'quantizeLanes') {
    // The per-tensor qparams, once, for every lane to load.
    const setup = hw.kernels.get({ shader: 'quantize', entryPoint: 'tensorSetup', flags, constants });
    setup.run(hw.batcher, { bindings: { qp: buffers.qp, aux: buffers.aux }, uniforms, workgroups: 1 });
  }
  kernel.run(hw.batcher, { bindings, uniforms, workgroups });
  if (layout) {
    // The chunks whose quotients fell too close to a rounding step, flagged
    // by the main kernel: listed, then redone exactly by as many workgroups
    // as were listed.
    const list = { buffer: buffers.fixups!, offset: 0, size: layout.listBytes };
    const lister = hw.kernels.get({ shader: 'quantize', entryPoint: 'listFixups', flags, constants });
    const flagWords = layout.flagsBytes / 4;
    lister.run(hw.batcher, { bindings: { fixWords: bindings.fixWords, masks: list }, uniforms, workgroups: Math.ceil(flagWords / (LIST_WORDS * FIX_WG)) });
    const fixup = hw.kernels.get({ shader: 'quantize', entryPoint: 'quantizeLanesFixup', flags, constants });
    const { fixWords: _flags, ...rest } = bindings;
    fixup.run(hw.batcher, { bindings: { ...rest, fixList: list }, uniforms, workgroups: 0, indirect: { buffer: buffers.fixups!, offset: 0 } });
  }
  return partials;
}
