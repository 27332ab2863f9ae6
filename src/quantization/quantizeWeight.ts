/**
 * Quantizes one Linear weight on the GPU: chooses the kernel path for its
 * group shape, lays out the small parameter buffers, dispatches observe →
 * (mse search) → quantize+pack chunk by chunk, and reads the results back
 * with a NaN/Inf check that names the tensor.
 */
import type { Hardware } from '../gpu/hardware.js';
import { Tensor } from '../gpu/tensor.js';
import type { QuantizationArgs } from './args.js';
import { isMxArgs } from './format.js';
import { groupGeometry, mseSettings, mseShrinkFactors, type GroupGeometry } from './layout.js';
import { type ComputeDtype } from './numerics.js';
import { fakeQuantUniforms } from './fakeQuantUniforms.js';
import type { ScaleDivision } from './reference.js';
import { initStats, observeMinMax } from './kernels/observe.js';
import { packColumns } from './kernels/pack.js';
import { fillWords } from '../gpu/kernels/elementwise.js';
import { FIXUP_LIST_USAGE, QUANTIZE_WG, dispatchQuantize, fixupLayout, workgroupsFor, type QuantizeConstants, type QuantizeEntry, type QuantizeOverrides, type QuantizeRange } from './kernels/quantize.js';

/** A weight that cannot be quantized as asked (bad values, shape, or settings). */
export class QuantizationError extends Error {
  override name = 'QuantizationError';
}

/**
 * How the quantized codes are stored: `int32`, dense words of `num_bits`
 * fields (pack-quantized); `bytes`, the storage bytes of the naive / FP8 /
 * NVFP4 formats (one byte per int8 or FP8 code, two FP4 nibbles per byte);
 * `codes`, one byte per element for every type (signed int8, FP8 byte, FP4
 * nibble value), the form src/io's writer takes.
 */
export type CodeLayout = 'int32' | 'bytes' | 'codes';

/** Options of {@link quantizeWeightGpu}. */
export interface QuantizeWeightOptions {
  /** Tensor name for error messages. */
  name?: string;
  /** The model dtype the weight came in (its values are exact in it); qparams are computed in it. Default f32. */
  dtype?: ComputeDtype;
  /** torch's `tensor / python_float`: 'exact' (CPU, default, §8) or 'reciprocal' (CUDA). */
  scaleDivision?: ScaleDivision;
  /** Code storage; default int32 for int weights, bytes for float weights. */
  layout?: CodeLayout;
  /** Also write the fake-quantized (quantize-dequantize) weight. */
  fake?: boolean;
  /** Force the subgroup or the workgroup-memory variant (default: the device's capability). */
  subgroups?: boolean;
  /**
   * Test hook: perturb the hardware quotient x / scale by up to ±2 ulp before
   * the code is chosen, as a GPU with an approximate division would; the
   * results must not change.
   */
  simulateInexactDivision?: boolean;
  /**
   * Test hook: elements per invocation on the lanes path (a power of two from
   * the device's minimum to 32), or on the rows path for groups too wide for
   * lanes, instead of the device's choice; also takes those paths for small
   * weights on a CPU adapter.
   */
  laneElements?: number;
  /** Fill every output with a NaN bit pattern before the run, so a word the kernels miss shows up (tests). */
  poisonOutputs?: boolean;
  /**
   * TENSOR_GROUP (NVFP4): min/max keys of a fused set (q/k/v, gate/up) at
   * words 0–1 of this buffer, from {@link observeGlobalStats}; default: this weight's own.
   */
  globalStats?: GPUBuffer;
}

/**
 * The kernel path a weight takes: `lanes`, groups of one row held by
 * clusters of subgroup lanes (no barriers; needs subgroups); `groups`,
 * whole groups per workgroup slot; `segments`, 32-element row segments;
 * `stats`, observe pass then quantize pass.
 */
export type QuantizePath = 'lanes' | 'rows' | 'tensor' | 'groups' | 'segments' | 'stats';

/** What the lanes path needs to know about the device. */
export interface SubgroupSupport {
  readonly subgroups: boolean;
  /** Smallest subgroup the device may run (lanes of one group must fit in it). */
  readonly subgroupMinSize: number;
  /** Largest subgroup the device may run (quantizeRows plans a subgroup per group); 128 when unknown. */
  readonly subgroupMaxSize?: number;
  /** maxComputeInvocationsPerWorkgroup (a CPU adapter runs the subgroup kernels in workgroups of up to 1024). */
  readonly maxWorkgroupSize?: number;
  /**
   * A CPU adapter (runs a subgroup as one SIMD vector): give each invocation
   * 32 elements, which amortizes its per-invocation and per-group work; a
   * GPU keeps the fewest, for coalesced loads.
   */
  readonly software: boolean;
}

const NO_SUBGROUPS: SubgroupSupport = { subgroups: false, subgroupMinSize: 0, software: false };

/** Smallest weight (elements) a CPU adapter quantizes on the lanes path unless a test forces it. */
const SOFTWARE_LANES_MIN_ELEMENTS = 1 << 22;

/** What a weight is quantized as: its plan's choices, which its GPU result carries on. */
export interface QuantizedWeightShape {
  readonly name: string;
  readonly args: QuantizationArgs;
  readonly dtype: ComputeDtype;
  readonly geometry: GroupGeometry;
  readonly path: QuantizePath;
  readonly layout: CodeLayout;
  /** Field width in the packed stream and u32 words per (padded) row. */
  readonly bits: number;
  readonly rowWords: number;
}

/** GPU-resident result of {@link quantizeWeightGpu}. */
export interface GpuQuantizedWeight extends QuantizedWeightShape {
  /** `[rows, rowWords]` u32: each row's codes as a dense little-endian bit stream. */
  readonly packed: Tensor;
  /** Zero points packed down the output dimension `[ceil(O·b/32), groups]` (int32 layout, asymmetric group/channel). */
  readonly packedZeroPoints: Tensor | null;
  /** scales, zero points, global scale, error partials (see the offsets). */
  readonly qp: Tensor;
  readonly fake: Tensor | null;
  readonly zpOffset: number;
  readonly gsOffset: number;
  readonly errOffset: number;
  /** Error partials (Σ(W − Q(W))², ΣW² pairs) from errOffset: one per workgroup, or per group on the lanes path. */
  readonly errWorkgroups: number;
  /** Hands the fake-quantized weight to the caller, who then owns (and disposes) it. */
  takeFake(): Tensor;
  /** Frees every output still owned. */
  dispose(): void;
}

/** Host copy of a quantized weight. */
export interface QuantizedWeight {
  readonly name: string;
  readonly args: QuantizationArgs;
  readonly dtype: ComputeDtype;
  readonly geometry: GroupGeometry;
  readonly layout: CodeLayout;
  readonly bits: number;
  readonly rowWords: number;
  /** `[rows, rowWords]` packed words. */
  readonly packed: Uint32Array;
  /** Stored scale values `[nGroupRows, nGroupCols]` (model dtype / FP8 / power of two). */
  readonly scales: Float32Array;
  /** Signed zero points per group (asymmetric), else null. */
  readonly zeroPoints: Int32Array | null;
  /** Zero points packed along the output dimension (pack-quantized asymmetric group/channel). */
  readonly packedZeroPoints: Uint32Array | null;
  readonly globalScale: number | null;
  /** Fake-quantized weight when asked for. */
  readonly fake: Float32Array | null;
  /** Σ(W − Q(W))² and ΣW² over the weight. */
  readonly errorSquared: number;
  readonly normSquared: number;
}

const ALIGN = 64; // words: 256-byte binding offsets
const POISON = 0x7fbadbad; // a NaN pattern no kernel writes

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

/**
 * Elements per invocation on the lanes path for `groupCols`-wide groups of
 * `bits`-bit fields, or 0 when the path does not apply: a power of two of at
 * least 8 (two vec4 loads) that fills whole u32 words, few enough lanes per
 * group to fit in the smallest subgroup and in one 32-bit flag word, at most
 * 32 elements in registers.
 */
export function laneElements(bits: number, groupCols: number, subgroupMinSize: number, software = false): number {
  if (subgroupMinSize < 1 || groupCols < 1 || (groupCols & (groupCols - 1)) !== 0) return 0;
  let ept = nextPow2(Math.max(8, 32 / gcd(32, bits), groupCols / subgroupMinSize, groupCols / 32));
  if (software) ept = Math.max(ept, Math.min(32, groupCols));
  return ept <= 32 && ept <= groupCols ? ept : 0;
}

/** Paths whose kernels (quantizeLanes, quantizeRows) need subgroups and take the fixup pass. */
function subgroupPath(path: QuantizePath): boolean {
  return path === 'lanes' || path === 'rows' || path === 'tensor';
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function nextPow2(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

/** The chunk size that splits an f32 tensor of the weight's shape into the weight's own chunks. */
function weightChunkBytes(weight: Tensor): number | undefined {
  return weight.chunks.length === 1 ? undefined : weight.chunks[0].byteLength;
}

function dtypeCode(d: ComputeDtype): number {
  return d === 'f32' ? 0 : d === 'f16' ? 1 : 2;
}

/**
 * Dispatch ranges: the runs of rows that lie in one chunk of the weight and
 * one of the packed output (the two are split into row chunks independently,
 * by their own row sizes). The fake output is chunked like the weight.
 */
function ranges(weight: Tensor, packed: Tensor, fake: Tensor | null, dummy: GPUBuffer): QuantizeRange[] {
  const out: QuantizeRange[] = [];
  weight.chunks.forEach((wc, i) => {
    const fc = fake ? fake.chunks[i] : null;
    if (fake && (!fc || fc.rowStart !== wc.rowStart || fc.rows !== wc.rows)) throw new QuantizationError('internal: fake-quant output chunks differ from the weight chunks');
    for (const pc of packed.chunks) {
      const a = Math.max(wc.rowStart, pc.rowStart);
      const b = Math.min(wc.rowStart + wc.rows, pc.rowStart + pc.rows);
      if (b <= a) continue;
      out.push({
        rows: b - a,
        globalRowBase: a,
        weight: { buffer: wc.buffer, size: wc.byteLength },
        inRowBase: a - wc.rowStart,
        packed: { buffer: pc.buffer, size: pc.byteLength },
        outRowBase: a - pc.rowStart,
        fake: fc ? { buffer: fc.buffer, size: fc.byteLength } : { buffer: dummy, size: 4 },
      });
    }
  });
  return out;
}

/**
 * Observes the tensor-wide min/max of every weight of a fused set (q/k/v or
 * gate/up) into words 0–1 of a new buffer, the statistics llm-compressor's
 * fused NVFP4 observers share for one global scale.
 */
export function observeGlobalStats(hw: Hardware, weights: readonly Tensor[]): GPUBuffer {
  const stats = hw.pool.acquire(16, undefined, 'wgc-global-stats');
  initStats(hw, stats, 0, 1);
  for (const w of weights) {
    const [rows, cols] = w.shape;
    const g: GroupGeometry = { rows, cols, groupRows: rows, groupCols: cols, nGroupRows: 1, nGroupCols: 1, scaleShape: [1] };
    observeMinMax(hw, w, g, stats, 0);
  }
  return stats;
}

/** Everything about quantizing one weight shape that does not depend on GPU buffers. */
export interface QuantizePlan extends QuantizedWeightShape {
  /** The fused quantize entry point and, for the mse observer, the search that runs before it. */
  readonly entry: QuantizeEntry;
  readonly searchEntry: QuantizeEntry | null;
  /** Uniforms shared by every dispatch. */
  readonly constants: QuantizeConstants;
  /** Pipeline constants selecting the kernel variant. */
  readonly overrides: QuantizeOverrides;
  /** Initial contents of the aux buffer (global stats, stats, mse masks, shrink factors). */
  readonly aux: Uint32Array;
  /** Word offset of the error partials in the qp buffer. */
  readonly errOffset: number;
}

/**
 * Chooses the kernel path for a `[rows, cols]` weight under `args` and
 * computes its uniforms and buffer layout. `forceStats` selects the
 * two-pass path (observe into aux, then quantize) whatever the group shape;
 * `device` enables the lanes path where its subgroups allow it.
 */
export function planQuantization(
  args: QuantizationArgs,
  rows: number,
  cols: number,
  options: QuantizeWeightOptions = {},
  forceStats = false,
  device: SubgroupSupport = NO_SUBGROUPS,
): QuantizePlan {
  const name = options.name ?? 'weight';
  if (args.dynamic !== false) throw new QuantizationError(`${name}: weights cannot be quantized dynamically`);
  const dtype = options.dtype ?? 'f32';
  let g: GroupGeometry;
  let mse;
  try {
    g = groupGeometry(args, rows, cols, name);
    mse = mseSettings(args, name);
  } catch (e) {
    throw new QuantizationError((e as Error).message);
  }
  const layout: CodeLayout = options.layout ?? (args.type === 'int' ? 'int32' : 'bytes');
  if (args.type === 'int' && args.numBits > 8) throw new QuantizationError(`${name}: int weights of ${args.numBits} bits are not supported (1–8)`);
  if (layout === 'int32' && args.type !== 'int') throw new QuantizationError(`${name}: int32 packing stores int codes, not ${args.type}${args.numBits}`);
  const bits = layout === 'int32' ? args.numBits : layout === 'bytes' && args.type === 'float' && args.numBits === 4 ? 4 : 8;
  const rowWords = Math.ceil((cols * bits) / 32);
  const nGroups = g.nGroupRows * g.nGroupCols;
  const tensorGroup = args.strategy === 'tensor_group';
  if (mse && tensorGroup) throw new QuantizationError(`${name}: the mse observer with strategy tensor_group (NVFP4) is not supported yet; use "minmax"`);

  const segsPerRow = Math.ceil(cols / 32);
  let path: QuantizePath;
  if (args.strategy === 'tensor' || forceStats) path = 'stats';
  else if (g.groupRows === 1 && g.groupCols <= 32 && 32 % g.groupCols === 0) path = 'segments';
  else if (g.groupCols % 32 === 0 || g.groupCols >= cols) path = 'groups';
  else path = 'stats';
  const searchEntry: QuantizeEntry | null = mse ? (path === 'groups' ? 'mseGroups' : 'mseSegments') : null;
  let ept = laneElements(bits, g.groupCols, device.subgroupMinSize, device.software);
  if (options.laneElements !== undefined && ept > 0) {
    const forced = options.laneElements;
    const least = laneElements(bits, g.groupCols, device.subgroupMinSize);
    const most = Math.min(32, g.groupCols);
    if (!Number.isInteger(forced) || forced < least || forced > most || (forced & (forced - 1)) !== 0) {
      throw new QuantizationError(`${name}: laneElements ${forced} is not a power of two from ${least} to ${most}`);
    }
    ept = forced;
  }
  // A CPU adapter spends seconds compiling the lanes kernel (32 elements in
  // registers per invocation); only a large weight wins that back.
  const worthCompiling = !device.software || options.laneElements !== undefined || rows * cols >= SOFTWARE_LANES_MIN_ELEMENTS;
  if (path !== 'stats' && device.subgroups && ept > 0 && worthCompiling && g.groupRows === 1 && cols % g.groupCols === 0) path = 'lanes';
  // Elements per invocation of the rows and tensor paths (a forced
  // laneElements sets them, as for lanes): 32 on a CPU adapter, else the
  // fewest that fill whole words.
  const chunkEpt = options.laneElements ?? (device.software ? 32 : Math.max(8, 32 / gcd(32, bits)));
  const chunkFits = Number.isInteger(chunkEpt) && chunkEpt <= 32 && (chunkEpt & (chunkEpt - 1)) === 0 && (chunkEpt * bits) % 32 === 0;
  // Wider one-row groups (channel, group_size ≥ 256): a subgroup per group.
  const sgMax = device.subgroupMaxSize ?? 128;
  if (path === 'groups' && device.subgroups && worthCompiling && chunkFits && chunkEpt >= 4 && g.groupRows === 1 && cols % g.groupCols === 0 && g.groupCols % (sgMax * chunkEpt) === 0) {
    path = 'rows';
    ept = chunkEpt;
  }
  if (mse && path === 'stats') throw new QuantizationError(`${name}: the mse observer is supported for channel, group and block strategies, not for "${args.strategy}"`);
  // A symmetric per-tensor scale (FP8, int8 per tensor): observed first, then
  // quantizeLanes over the flat weight in clusters of lanes that only share
  // fixup flags and error partials (`tensorLanes`, at most the smallest subgroup).
  let tensorLanes = 0;
  if (args.strategy === 'tensor' && !forceStats && args.symmetric && !mse && device.subgroups && worthCompiling && device.subgroupMinSize >= 1 && chunkFits && chunkEpt >= 8 && cols % chunkEpt === 0) {
    path = 'tensor';
    ept = chunkEpt;
    tensorLanes = Math.min(32, 2 ** Math.floor(Math.log2(device.subgroupMinSize)));
  }
  const observed = path === 'stats' || path === 'tensor';

  const segsPerGroup = g.groupRows * Math.ceil(Math.min(g.groupCols, cols) / 32);
  const tpg = Math.min(QUANTIZE_WG, nextPow2(segsPerGroup));
  const scaleKind = tensorGroup ? 1 : isMxArgs(args) ? 2 : 0;
  const fp8Scale = args.scaleDtype === 'float8_e4m3fn' ? 1 : 0;
  const steps = mse ? Math.trunc(mse.maxshrink * mse.grid) : 0;

  // aux: [0,2) global min/max keys, stats, mse masks (global + per group), shrink factors.
  const statsOffset = ALIGN;
  const maskOffset = statsOffset + align(observed ? 2 * nGroups : 0);
  const shrinkOffset = maskOffset + align(mse ? 1 + nGroups : 0);
  const aux = new Uint32Array(shrinkOffset + align(steps));
  aux[0] = 0xffffffff;
  for (let i = 0; i < (observed ? nGroups : 0); i++) aux[statsOffset + 2 * i] = 0xffffffff;
  if (mse) new Float32Array(aux.buffer, shrinkOffset * 4, steps).set(mseShrinkFactors(mse));

  const zpOffset = align(nGroups);
  const gsOffset = zpOffset + align(args.symmetric ? 0 : nGroups);
  const constants: QuantizeConstants = {
    cols,
    groupRows: g.groupRows,
    groupCols: g.groupCols,
    nGroupCols: g.nGroupCols,
    nGroups,
    tpg,
    segsPerRow,
    rowWords,
    ...fakeQuantUniforms(args, scaleKind === 1 ? 'f32' : dtype, dtype),
    mseSteps: steps,
    msePatience: mse ? Math.max(1, Math.floor(mse.patience)) : 1,
    mseNorm: mse ? mse.norm : 2,
    mseExpand: mse ? mse.expand : 1,
    globalStatsOffset: 0,
    statsOffset,
    maskOffset,
    shrinkOffset,
    zpOffset,
    gsOffset,
    setupOffset: gsOffset + ALIGN,
    sgMax,
  };
  const overrides: QuantizeOverrides = {
    QTYPE: args.type === 'int' ? 0 : args.numBits === 8 ? 1 : 2,
    BITS: bits,
    PACK_MODE: layout === 'int32' ? 0 : 1,
    SYMMETRIC: args.symmetric,
    SCALE_KIND: scaleKind,
    FP8_SCALE: fp8Scale === 1,
    DTYPE: dtypeCode(dtype),
    TDT: scaleKind === 1 ? 0 : dtypeCode(dtype),
    RECIPROCAL_DIV: options.scaleDivision === 'reciprocal',
    STATS_MODE: path === 'stats' ? 1 : 0,
    MSE: !!mse,
    WRITE_FAKE: !!options.fake,
    DIV_JITTER: !!options.simulateInexactDivision,
    EPT: Math.max(ept, 8),
    TENSOR_LANES: tensorLanes,
  };
  // A CPU adapter runs a workgroup's subgroups one after another on one
  // thread: 1024-invocation workgroups of the barrier-free subgroup kernels
  // measured ~6 % faster there than 256 (a GPU keeps 256 for occupancy).
  if (subgroupPath(path) && device.software && (device.maxWorkgroupSize ?? 0) >= 1024) overrides.WG = 1024;
  return {
    name, args, dtype, geometry: g, path, layout, bits, rowWords,
    entry: path === 'lanes' || path === 'tensor' ? 'quantizeLanes' : path === 'rows' ? 'quantizeRows' : path === 'groups' ? 'quantizeGroups' : 'quantizeSegments',
    searchEntry,
    constants, overrides, aux, errOffset: gsOffset + 2 * ALIGN,
  };
}

/**
 * Records the GPU work that quantizes `weight` (f32 `[rows, cols]`, values
 * exact in `options.dtype`) with `args`. Nothing is awaited; read the result
 * with {@link readQuantizedWeight}.
 */
export function quantizeWeightGpu(hw: Hardware, weight: Tensor, args: QuantizationArgs, options: QuantizeWeightOptions = {}): GpuQuantizedWeight {
  const name = options.name ?? 'weight';
  if (weight.dtype !== 'f32' || weight.shape.length !== 2) throw new QuantizationError(`${name}: expected a 2-D f32 weight, got [${weight.shape.join(', ')}] ${weight.dtype}`);
  const [rows, cols] = weight.shape;
  const device: SubgroupSupport = {
    subgroups: options.subgroups ?? hw.caps.subgroups,
    subgroupMinSize: hw.caps.subgroupMinSize,
    subgroupMaxSize: hw.info.subgroupMaxSize,
    maxWorkgroupSize: hw.caps.maxComputeInvocationsPerWorkgroup,
    software: hw.info.isFallbackAdapter,
  };
  let plan = planQuantization(args, rows, cols, options, false, device);
  const g = plan.geometry;
  const packed = Tensor.empty(hw, [rows, plan.rowWords], 'u32', { label: `${name}.packed` });
  const fake = options.fake ? Tensor.empty(hw, [rows, cols], 'f32', { label: `${name}.fake`, maxChunkBytes: weightChunkBytes(weight) }) : null;
  const dummy = hw.pool.acquire(16, undefined, 'wgc-dummy');
  const rs = ranges(weight, packed, fake, dummy);
  if (plan.path === 'groups' && g.groupRows > 1) {
    // Blocks must not straddle dispatches: each one computes whole groups.
    const ok = rs.every((r) => r.globalRowBase % g.groupRows === 0 && (r.globalRowBase + r.rows === rows || (r.globalRowBase + r.rows) % g.groupRows === 0));
    if (!ok) plan = planQuantization(args, rows, cols, options, true, device);
  }
  const c = plan.constants;
  const o = plan.overrides;
  const auxT = Tensor.fromData(hw, plan.aux, [plan.aux.length], 'u32', { label: `${name}.aux` });
  let errWorkgroups = 0;
  for (const r of rs) errWorkgroups += workgroupsFor(plan.entry, c, o, r.rows).partials;
  const qp = Tensor.empty(hw, [plan.errOffset + 2 * Math.max(1, errWorkgroups)], 'u32', { label: `${name}.qp` });

  if (options.poisonOutputs) for (const t of [packed, qp, fake]) if (t) fillWords(hw, t, POISON);
  const auxSlice = { buffer: auxT.buffer, size: plan.aux.length * 4 };
  if (args.strategy === 'tensor_group') {
    if (options.globalStats) hw.batcher.copy(options.globalStats, 0, auxT.buffer, 0, 8);
    else {
      const whole: GroupGeometry = { ...g, groupRows: rows, groupCols: cols, nGroupRows: 1, nGroupCols: 1 };
      observeMinMax(hw, weight, whole, auxT.buffer, 0, options.subgroups);
    }
  }
  if (plan.path === 'stats' || plan.path === 'tensor') observeMinMax(hw, weight, g, auxT.buffer, c.statsOffset, options.subgroups);
  let fixups: GPUBuffer | undefined;
  if (subgroupPath(plan.path)) {
    const bytes = Math.max(...rs.map((r) => fixupLayout(c, o, r.rows).totalBytes));
    fixups = hw.pool.acquire(bytes, FIXUP_LIST_USAGE, `${name}.fixups`);
  }
  const buffers = { qp: { buffer: qp.buffer }, aux: auxSlice, fixups };
  if (plan.searchEntry) for (const r of rs) dispatchQuantize(hw, plan.searchEntry, c, o, r, buffers, 0, options.subgroups);
  let errAt = plan.errOffset;
  const subgroups = subgroupPath(plan.path) ? true : options.subgroups;
  for (const r of rs) errAt += 2 * dispatchQuantize(hw, plan.entry, c, o, r, buffers, errAt, subgroups);

  let packedZeroPoints: Tensor | null = null;
  const bits = plan.bits;
  const nGroups = g.nGroupRows * g.nGroupCols;
  if (!args.symmetric && plan.layout === 'int32' && (args.strategy === 'group' || args.strategy === 'channel')) {
    packedZeroPoints = Tensor.empty(hw, [Math.ceil((g.nGroupRows * bits) / 32), g.nGroupCols], 'u32', { label: `${name}.zp` });
    if (options.poisonOutputs) fillWords(hw, packedZeroPoints, POISON);
    packColumns(hw, {
      codes: { buffer: qp.buffer, offset: c.zpOffset * 4, size: nGroups * 4 },
      out: { buffer: packedZeroPoints.buffer },
      rows: g.nGroupRows,
      cols: g.nGroupCols,
      bits,
      offset: 2 ** (bits - 1),
    });
  }
  auxT.dispose();
  hw.pool.releaseAfterSubmit(dummy);
  if (fixups) hw.pool.releaseAfterSubmit(fixups);
  let ownedFake = fake;
  return {
    name, args, dtype: plan.dtype, geometry: g, path: plan.path, layout: plan.layout, bits, rowWords: plan.rowWords, packed, packedZeroPoints, qp, fake,
    zpOffset: c.zpOffset, gsOffset: c.gsOffset, errOffset: plan.errOffset, errWorkgroups,
    takeFake() {
      if (!ownedFake) throw new QuantizationError(`${name}: no fake-quantized output (not requested, or already taken)`);
      const t = ownedFake;
      ownedFake = null;
      return t;
    },
    dispose() {
      packed.dispose();
      packedZeroPoints?.dispose();
      qp.dispose();
      ownedFake?.dispose();
      ownedFake = null;
    },
  };
}

/** Human-readable position of scale group `i`. */
function describeGroup(g: GroupGeometry, i: number): string {
  const gr = Math.floor(i / g.nGroupCols);
  const gc = i % g.nGroupCols;
  const r0 = gr * g.groupRows;
  const c0 = gc * g.groupCols;
  return `rows ${r0}–${Math.min(g.rows, r0 + g.groupRows) - 1}, columns ${c0}–${Math.min(g.cols, c0 + g.groupCols) - 1}`;
}

/**
 * Reads a quantized weight back. A weight holding NaN or Inf is a
 * {@link QuantizationError} naming the tensor and the first bad group.
 */
export async function readQuantizedWeight(q: GpuQuantizedWeight, options: { fake?: boolean } = {}): Promise<QuantizedWeight> {
  const words = await q.qp.readU32();
  const g = q.geometry;
  const n = g.nGroupRows * g.nGroupCols;
  const scales = new Float32Array(words.buffer, words.byteOffset, n).slice();
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(scales[i])) throw new QuantizationError(`${q.name}: the weight contains NaN or Inf values (scale group ${i}: ${describeGroup(g, i)}); nothing was written`);
  }
  const zeroPoints = q.args.symmetric ? null : new Int32Array(words.buffer, words.byteOffset + q.zpOffset * 4, n).slice();
  const globalScale = q.args.strategy === 'tensor_group' ? new Float32Array(words.buffer, words.byteOffset + q.gsOffset * 4, 1)[0] : null;
  let e2 = 0;
  let x2 = 0;
  const errs = new Float32Array(words.buffer, words.byteOffset + q.errOffset * 4, 2 * q.errWorkgroups);
  for (let i = 0; i < q.errWorkgroups; i++) {
    e2 += errs[2 * i];
    x2 += errs[2 * i + 1];
  }
  const packed = await q.packed.readU32();
  const packedZeroPoints = q.packedZeroPoints ? await q.packedZeroPoints.readU32() : null;
  const fake = q.fake && options.fake !== false ? await q.fake.readF32() : null;
  return {
    name: q.name, args: q.args, dtype: q.dtype, geometry: g, layout: q.layout, bits: q.bits, rowWords: q.rowWords,
    packed, scales, zeroPoints, packedZeroPoints, globalScale, fake, errorSquared: e2, normSquared: x2,
  };
}
