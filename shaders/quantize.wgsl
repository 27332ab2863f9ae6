// Weight quantization: compressed-tensors' calculate_qparams, _quantize and
// _quantize_dequantize (compressed-tensors.md §4), dense bit packing (§3.1,
// §3.3) and llm-compressor's mse shrink search (llm-compressor.md §1.3).
//
// Layout: a weight [rows, cols] in row-major f32 (bound as raw u32 bits so
// subnormals survive even where the device flushes them in arithmetic).
// Work unit = a row segment of 32 consecutive elements starting at a column
// multiple of 32; it packs into exactly `bits` u32 words, so no two threads
// share an output word for any width 1..8. Rows are padded to whole words.
//
// Numerics. Every torch op is modelled in the dtype torch runs it in: f32 ops
// are correctly rounded, and for bf16/f16 models each result is rounded to the
// model dtype (`roundDt`). WGSL's f32 division is only accurate to 2.5 ULP and
// devices may flush subnormals, so:
//   - per-group divisions and the scale products use exact integer arithmetic
//     (divRN, mulRN, addPos);
//   - per element, x / scale is first computed with the hardware division or
//     reciprocal; the code is accepted when no rounding step lies within the
//     quotient's error bound, otherwise the quotient is recomputed exactly.
//     Codes are step functions of the quotient, so this equals rounding the
//     exact quotient (compressed-tensors.md §8: every group's maximum sits on
//     a ±7.5 tie, which the lanes kernel decides in integers per lane).
// These numerics live in shaders/lib/ (fakequant, floatbits, minifloat),
// shared with the activation quantizer (shaders/actquant.wgsl).
// Group min/max are kept as order-preserving u32 keys (see orderedKey);
// a NaN or ±Inf element shows up as a key beyond ±Inf and makes the group's
// scale NaN, which the host reports with the tensor's name.
//
// Entry points:
//   quantizeLanes    - groups of one row, a power of two wide (group_size 32,
//                      64, 128…): a cluster of subgroup lanes per group, no
//                      barriers (subgroup variant only; see its comment);
//                      listFixups lists the chunks it flags and
//                      quantizeLanesFixup redoes them exactly. With
//                      TENSOR_LANES, a symmetric per-tensor scale over the
//                      flat weight, set up once by tensorSetup.
//   quantizeRows     - one-row groups of a multiple of 256 elements (channel,
//                      wide groups): a whole subgroup per group, in passes;
//                      the same fixup pass.
//   quantizeGroups   - groups of whole segments (group_size % 32 == 0,
//                      channel, block): the workgroup observes each group,
//                      computes its qparams and quantizes it in one dispatch.
//   quantizeSegments - one thread per row segment; groups inside a segment
//                      (group_size divides 32: NVFP4 16, MX 32) or qparams
//                      from min/max keys in `aux` (tensor strategy, others).
//   mseGroups / mseSegments - the shrink search; they record, per group, a
//                      bit per step that improved the group's error, and the
//                      OR over all groups (the early-stopping signal).

#if SUBGROUPS
enable subgroups;
#endif

struct Params {
  rows: u32,
  cols: u32,
  inRowBase: u32,
  outRowBase: u32,
  globalRowBase: u32,
  groupRows: u32,
  groupCols: u32,
  nGroupCols: u32,
  nGroups: u32,
  nUnits: u32,
  nWorkgroups: u32,
  tpg: u32,
  segsPerRow: u32,
  rowWords: u32,
  qmin: f32,
  qmax: f32,
  halfRange: f32,
  fullRange: f32,
  invHalfRange: f32,
  invFullRange: f32,
  mxOffset: u32,
  eps: f32,
  epsSearch: f32,
  mseSteps: u32,
  msePatience: u32,
  mseNorm: f32,
  mseExpand: f32,
  globalStatsOffset: u32,
  statsOffset: u32,
  maskOffset: u32,
  shrinkOffset: u32,
  zpOffset: u32,
  gsOffset: u32,
  errOffset: u32,
  sgMax: u32,
  setupOffset: u32,
}

// Params field meanings:
//   rows/cols          rows this dispatch covers, weight columns
//   inRowBase          first covered row inside the bound weight (and fake) chunk
//   outRowBase         first covered row inside the bound packed chunk
//   globalRowBase      first covered row of the whole weight (a multiple of groupRows)
//   groupRows/Cols     group rectangle; nGroupCols groups per group-row; nGroups in the tensor
//   nUnits             groups (quantizeGroups, mseGroups) or segments (others) in this dispatch
//   tpg                threads per group (power of two), quantizeGroups / mseGroups
//   halfRange/fullRange  (qmax-qmin)/2 and qmax-qmin; inv*: f32(1/·) for reciprocalDiv
//   eps / epsSearch    replacement for a zero scale (final qparams / inside the mse search)
//   mse masks          aux[maskOffset] = OR of all groups' masks, aux[maskOffset + 1 + g] = group g's
//   globalStatsOffset  aux offset of the tensor-wide min/max keys (global scale)
//   zpOffset/gsOffset/errOffset  where zero points, the global scale and error partials go in qp
//   sgMax              largest subgroup size the host planned quantizeRows' workgroups for
//   setupOffset        qp words where tensorSetup leaves the per-tensor LaneSetup (TENSOR_LANES)

@group(0) @binding(0) var<uniform> p: Params;
#if VEC4
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;
#else
@group(0) @binding(1) var<storage, read> w: array<u32>;
#endif
@group(0) @binding(2) var<storage, read_write> packed: array<u32>;
@group(0) @binding(3) var<storage, read_write> qp: array<u32>;
@group(0) @binding(4) var<storage, read_write> fake: array<f32>;
@group(0) @binding(5) var<storage, read> aux: array<u32>;
@group(0) @binding(6) var<storage, read_write> masks: array<atomic<u32>>;
// quantizeLanes' fixup list read back by quantizeLanesFixup, which also takes
// its workgroup counts from it (an indirect dispatch reads it: read-only here).
@group(0) @binding(7) var<storage, read> fixList: array<u32>;
// The subgroup kernels' per-group flag words, which listFixups turns into the
// fixup list (see FIX_ALL).
@group(0) @binding(8) var<storage, read_write> fixWords: array<u32>;

override WG: u32 = 256u;

// Specialisation of this family (the numeric ones live in lib/fakequant.wgsl).
override STATS_MODE: u32 = 0u;     // 0 observe in-kernel, 1 min/max keys from aux[statsOffset + 2g]
override MSE: bool = false;        // apply the mse-selected shrink
override WRITE_FAKE: bool = false; // write the fake-quantized weight

// Workgroup arrays are sized for the largest WG (a const, so every tool sizes them alike).
const WG_MAX: u32 = 256u;

const F32_MAX: f32 = 3.4028234663852886e38;

// Per-group minima are stored inverted so that zero-initialised workgroup
// memory is the identity of atomicMax for both.
var<workgroup> slotMinInv: array<atomic<u32>, WG_MAX>;
var<workgroup> slotMax: array<atomic<u32>, WG_MAX>;
var<workgroup> redF: array<f32, WG_MAX>;
var<workgroup> redG: array<f32, WG_MAX>;
var<workgroup> wgMask: atomic<u32>;
#if SUBGROUPS
var<workgroup> sgCount: atomic<u32>;
#endif

#include "lib/grid.wgsl"

#include "lib/fakequant.wgsl"

// ---------------------------------------------------------------- segments

fn loadSeg(base: u32, n: u32) -> array<u32, 32> {
  var v: array<u32, 32>;
#if VEC4
  let b4 = base >> 2u;
  for (var j = 0u; j < 8u; j = j + 1u) {
    if (4u * j < n) {
      let q = w[b4 + j];
      v[4u * j] = q.x;
      v[4u * j + 1u] = q.y;
      v[4u * j + 2u] = q.z;
      v[4u * j + 3u] = q.w;
    }
  }
#else
  for (var k = 0u; k < n; k = k + 1u) { v[k] = w[base + k]; }
#endif
  return v;
}

// Dense little-endian packing: field k of `BITS` bits at bit k·BITS of `words`.
fn packField(words: ptr<function, array<u32, 8>>, k: u32, field: u32) {
  let bit = k * BITS;
  let wi = bit >> 5u;
  let s = bit & 31u;
  (*words)[wi] = (*words)[wi] | (field << s);
  if (s + BITS > 32u) { (*words)[wi + 1u] = (*words)[wi + 1u] | (field >> (32u - s)); }
}

// The 32 fields of a row segment, packed and stored.
fn storeFields(fields: array<u32, 32>, row: u32, seg: u32) {
  var words: array<u32, 8>;
  for (var k = 0u; k < 32u; k = k + 1u) { packField(&words, k, fields[k]); }
  let b = BITS;
  let first = seg * b;
  let n = min(b, p.rowWords - first);
  let base = (p.outRowBase + row) * p.rowWords + first;
  for (var j = 0u; j < n; j = j + 1u) { packed[base + j] = words[j]; }
}

// Sum of (a, b) over the whole workgroup, result valid in invocation 0.
fn workgroupSum2(li: u32, a: f32, b: f32
#if SUBGROUPS
  , sgLane: u32
#endif
) -> vec2<f32> {
#if SUBGROUPS
  let sa = subgroupAdd(a);
  let sb = subgroupAdd(b);
  if (sgLane == 0u) {
    let slot = atomicAdd(&sgCount, 1u);
    redF[slot] = sa;
    redG[slot] = sb;
  }
  workgroupBarrier();
  var r = vec2<f32>(0.0, 0.0);
  if (li == 0u) {
    let n = atomicLoad(&sgCount);
    for (var i = 0u; i < n; i = i + 1u) { r = r + vec2<f32>(redF[i], redG[i]); }
  }
  return r;
#else
  redF[li] = a;
  redG[li] = b;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (li < s) {
      redF[li] = redF[li] + redF[li + s];
      redG[li] = redG[li] + redG[li + s];
    }
    workgroupBarrier();
  }
  return vec2<f32>(redF[0], redG[0]);
#endif
}

// Error partial i (Σ(x − Q(x))², Σx²) of this dispatch.
fn storeErrorPartial(i: u32, e2: f32, x2: f32) {
  qp[p.errOffset + 2u * i] = bitcast<u32>(e2);
  qp[p.errOffset + 2u * i + 1u] = bitcast<u32>(x2);
}

fn writeErrors(li: u32, wgId: u32, sums: vec2<f32>) {
  if (li == 0u && wgId < p.nWorkgroups) { storeErrorPartial(wgId, sums.x, sums.y); }
}

// The mse observer's choice for a group: the last step up to the global stop
// that improved it (none: the unshrunk range), as (min, max) bits.
fn mseSelect(loBits: u32, hiBits: u32, g: u32) -> vec2<u32> {
  let gmask = aux[p.maskOffset];
  var stop = p.mseSteps - 1u;
  var run = 0u;
  for (var i = 0u; i < p.mseSteps; i = i + 1u) {
    if (((gmask >> i) & 1u) == 1u) {
      run = 0u;
    } else {
      run = run + 1u;
      if (run >= p.msePatience) { stop = i; break; }
    }
  }
  let lo0 = roundDt(mulRN(bitcast<f32>(loBits), p.mseExpand), DTYPE);
  let hi0 = roundDt(mulRN(bitcast<f32>(hiBits), p.mseExpand), DTYPE);
  var m = aux[p.maskOffset + 1u + g];
  if (stop < 31u) { m = m & ((2u << stop) - 1u); }
  if (m == 0u) { return vec2<u32>(bitcast<u32>(lo0), bitcast<u32>(hi0)); }
  let best = 31u - countLeadingZeros(m);
  let f = bitcast<f32>(aux[p.shrinkOffset + best]);
  return vec2<u32>(bitcast<u32>(roundDt(mulRN(lo0, f), DTYPE)), bitcast<u32>(roundDt(mulRN(hi0, f), DTYPE)));
}

fn globalScale() -> f32 {
  if (SCALE_KIND != 1u) { return 1.0; }
  return globalScaleFromKeys(aux[p.globalStatsOffset], aux[p.globalStatsOffset + 1u]);
}

fn writeParams(g: u32, gp: GroupParams, minKey: u32, maxKey: u32) {
  // NaN marks a group with NaN/Inf for the host; the key check is exact.
  let bad = minKey <= KEY_NEG_INF || maxKey >= KEY_POS_INF;
  qp[g] = select(bitcast<u32>(gp.scale), 0x7fc00000u, bad);
  if (!SYMMETRIC) { qp[p.zpOffset + g] = bitcast<u32>(i32(gp.zp)); }
}

fn groupParamsFor(minKey: u32, maxKey: u32, g: u32, gs: f32) -> GroupParams {
  if (MSE && minKey <= maxKey) {
    let sel = mseSelect(fromKey(minKey), fromKey(maxKey), g);
    return qparamsFromMinMax(sel.x, sel.y, gs, false);
  }
  return qparamsFromKeys(minKey, maxKey, gs, false);
}

// ---------------------------------------------------------------- entry points

struct GroupSlot {
  live: u32,      // 1 when the slot holds a group (u32: bool struct members trip some WGSL tools)
  lane: u32,
  slot: u32,
  rowStart: u32,   // first row of the group, relative to the dispatch
  ghEff: u32,
  colStart: u32,
  spr: u32,        // segments per group row
  nSeg: u32,
  g: u32,          // global group index
}

// Results come back through pointers rather than return values: wgsl_reflect's
// lockstep race detector (1.6.0) shares a user function's return value among
// invocations, which would make every invocation use the last one's slot.
fn groupSlot(wgId: u32, li: u32, out: ptr<function, GroupSlot>) {
  let gpw = WG / p.tpg;
  let slot = li / p.tpg;
  let lg = wgId * gpw + slot;
  let live = select(0u, 1u, wgId < p.nWorkgroups && lg < p.nUnits);
  let gRow = lg / p.nGroupCols;
  let gc = lg % p.nGroupCols;
  let rowStart = gRow * p.groupRows;
  let colStart = gc * p.groupCols;
  var ghEff = 0u;
  var gwEff = 0u;
  if (live == 1u) {
    ghEff = min(p.groupRows, p.rows - rowStart);
    gwEff = min(p.groupCols, p.cols - colStart);
  }
  let spr = (gwEff + 31u) / 32u;
  *out = GroupSlot(live, li % p.tpg, slot, rowStart, ghEff, colStart, spr, ghEff * spr,
                   (p.globalRowBase / p.groupRows + gRow) * p.nGroupCols + gc);
}

// (row relative to the dispatch, first column, valid elements) of a group's i-th segment.
fn segmentOf(s: GroupSlot, i: u32, out: ptr<function, vec3<u32>>) {
  let r = s.rowStart + i / s.spr;
  let c0 = s.colStart + (i % s.spr) * 32u;
  let end = min(s.colStart + p.groupCols, p.cols);
  *out = vec3<u32>(r, c0, min(32u, end - c0));
}

fn observeGroup(s: GroupSlot) {
  var mn = 0xffffffffu;
  var mx = 0u;
  if (s.live == 1u) {
    for (var i = s.lane; i < s.nSeg; i = i + p.tpg) {
      var sg: vec3<u32>;
      segmentOf(s, i, &sg);
      let v = loadSeg((p.inRowBase + sg.x) * p.cols + sg.y, sg.z);
      for (var k = 0u; k < sg.z; k = k + 1u) {
        let key = orderedKey(v[k]);
        mn = min(mn, key);
        mx = max(mx, key);
      }
    }
    atomicMax(&slotMinInv[s.slot], ~mn);
    atomicMax(&slotMax[s.slot], mx);
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn quantizeGroups(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32
#if SUBGROUPS
                  , @builtin(subgroup_invocation_id) sgLane: u32
#endif
) {
  let wgId = linearWorkgroup(wid, nwg);
  var s: GroupSlot;
  groupSlot(wgId, li, &s);
  observeGroup(s);
  let minKey = ~atomicLoad(&slotMinInv[s.slot]);
  let maxKey = atomicLoad(&slotMax[s.slot]);
  let gs = globalScale();
  let gp = groupParamsFor(minKey, maxKey, s.g, gs);
  if (s.live == 1u && s.lane == 0u) {
    writeParams(s.g, gp, minKey, maxKey);
    if (SCALE_KIND == 1u && s.g == 0u) { qp[p.gsOffset] = bitcast<u32>(gs); }
  }
  var e2 = 0.0;
  var x2 = 0.0;
  if (s.live == 1u) {
    for (var i = s.lane; i < s.nSeg; i = i + p.tpg) {
      var sg: vec3<u32>;
      segmentOf(s, i, &sg);
      let base = (p.inRowBase + sg.x) * p.cols + sg.y;
      let v = loadSeg(base, sg.z);
      var fields: array<u32, 32>;
      for (var k = 0u; k < sg.z; k = k + 1u) {
        let q = quantizeValue(v[k], gp);
        fields[k] = q.field;
        let x = bitcast<f32>(v[k]);
        // The error statistics need no exact rounding; the fake-quantized output does.
        var d = q.value * gp.sEff;
        if (WRITE_FAKE) {
          d = dequantValue(q, gp);
          fake[base + k] = d;
        }
        e2 = e2 + (x - d) * (x - d);
        x2 = x2 + x * x;
      }
      storeFields(fields, sg.x, sg.y / 32u);
    }
  }
#if SUBGROUPS
  writeErrors(li, wgId, workgroupSum2(li, e2, x2, sgLane));
#else
  writeErrors(li, wgId, workgroupSum2(li, e2, x2));
#endif
}

@compute @workgroup_size(WG)
fn quantizeSegments(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) li: u32
#if SUBGROUPS
                    , @builtin(subgroup_invocation_id) sgLane: u32
#endif
) {
  let wgId = linearWorkgroup(wid, nwg);
  let t = wgId * WG + li;
  let live = wgId < p.nWorkgroups && t < p.nUnits;
  var e2 = 0.0;
  var x2 = 0.0;
  if (live) {
    let r = t / p.segsPerRow;
    let seg = t % p.segsPerRow;
    let c0 = seg * 32u;
    let n = min(32u, p.cols - c0);
    let R = p.globalRowBase + r;
    let base = (p.inRowBase + r) * p.cols + c0;
    let v = loadSeg(base, n);
    let gw = p.groupCols;
    // Groups inside the segment (statsMode 0): gw divides 32, so they start at c0.
    var subMinInv: array<u32, 32>;
    var subMax: array<u32, 32>;
    if (STATS_MODE == 0u) {
      for (var k = 0u; k < n; k = k + 1u) {
        let j = k / gw;
        let key = orderedKey(v[k]);
        subMinInv[j] = max(subMinInv[j], ~key);
        subMax[j] = max(subMax[j], key);
      }
    }
    let gs = globalScale();
    if (SCALE_KIND == 1u && t == 0u) { qp[p.gsOffset] = bitcast<u32>(gs); }
    var fields: array<u32, 32>;
    var cur = 0xffffffffu;
    var gp: GroupParams;
    for (var k = 0u; k < n; k = k + 1u) {
      let c = c0 + k;
      let g = (R / p.groupRows) * p.nGroupCols + c / gw;
      if (g != cur) {
        cur = g;
        var minKey: u32;
        var maxKey: u32;
        if (STATS_MODE == 0u) {
          minKey = ~subMinInv[k / gw];
          maxKey = subMax[k / gw];
        } else {
          minKey = aux[p.statsOffset + 2u * g];
          maxKey = aux[p.statsOffset + 2u * g + 1u];
        }
        gp = groupParamsFor(minKey, maxKey, g, gs);
        if (R % p.groupRows == 0u && c % gw == 0u) { writeParams(g, gp, minKey, maxKey); }
      }
      let q = quantizeValue(v[k], gp);
      fields[k] = q.field;
      let x = bitcast<f32>(v[k]);
      var d = q.value * gp.sEff;
      if (WRITE_FAKE) {
        d = dequantValue(q, gp);
        fake[base + k] = d;
      }
      e2 = e2 + (x - d) * (x - d);
      x2 = x2 + x * x;
    }
    storeFields(fields, r, seg);
  }
#if SUBGROUPS
  writeErrors(li, wgId, workgroupSum2(li, e2, x2, sgLane));
#else
  writeErrors(li, wgId, workgroupSum2(li, e2, x2));
#endif
}

// ---------------------------------------------------------------- lanes

// quantizeLanes (subgroup variant only): groups of one row whose width is a
// power of two, each held by a cluster of LPG = groupCols / EPT consecutive
// subgroup lanes, every lane owning EPT consecutive elements — whole output
// words — in registers from load to store. Group min/max and the error sums
// combine with subgroupShuffleXor inside the cluster (subgroupMin/Max/Add
// when the cluster is the whole subgroup), so the kernel has no
// barrier and no workgroup memory: a CPU adapter runs a subgroup as one
// SIMD vector and would otherwise switch coroutines at every barrier. Each
// lane computes its group's qparams itself (the cluster agrees) and the code
// of each element comes from the hardware quotient. A lane holding an
// element whose quotient lies too close to a rounding step for that (rare:
// each symmetric group's −max|x| tie is decided per lane beforehand) is
// listed, and quantizeLanesFixup redoes the listed lanes with the exact
// division in an indirect dispatch of just that many workgroups. (A CPU
// adapter executes both sides of every branch, taken or not, so an exact
// path inside this kernel would cost every lane.)
//
// Clusters need subgroup lanes that are consecutive invocations aligned to
// the subgroup size, which every known implementation does but WGSL does not
// promise: a subgroup that finds otherwise lists all its lanes for the fixup
// pass, which recomputes everything from memory (slow, same results).

override EPT: u32 = 8u;   // elements per lane: a power of two, EPT · BITS a multiple of 32
// Nonzero: quantizeLanes holds a symmetric per-tensor scale (min/max keys
// from aux[statsOffset], observed beforehand) and the weight is read as one
// flat run of EPT-element chunks; TENSOR_LANES consecutive lanes (a power of
// two, at most the subgroup size and 32) share a fixup flag word and an error
// partial, in place of a group's lanes.
override TENSOR_LANES: u32 = 0u;
const EPT_MAX: u32 = 32u;

// Codes that matter lie within 2^BITS of zero (|q| ≤ |t| + |zp|). There the
// quotient q = x · (hardware 1/sEff) is within 3 ulp of RN(x / sEff), 5 with
// the test jitter, and t = q + zp adds one ulp: all below 2^(BITS−20), so a
// margin of 2^(BITS−19) (2^−15 for int4, 2^−11 for int8) decides safely.
const INT_MARGIN_LOG2: i32 = -19;

// The per-lane tie shortcut (symmetricTieQuotient) holds where the scale is
// exactly RN(max|x| / halfRange): symmetric, f32, no global or MX scale, no
// reciprocal division, no mse shrink, and two bits or more.
// quantizeLanes' int path with codes packed by halves (see there).
override INT_HALVES: bool = TDT == 0u && QTYPE == 0u && !WRITE_FAKE && (16u % BITS) == 0u;

// quantizeChunk's FP8 E4M3 path without the fake output (see there).
override FP8_BYTES: bool = TDT == 0u && QTYPE == 1u && !WRITE_FAKE && BITS == 8u;

// quantizeChunk's FP4 E2M1 path (NVFP4) without the fake output (see there).
override FP4_NIBBLES: bool = TDT == 0u && QTYPE == 2u && !WRITE_FAKE && BITS == 4u;

// NVFP4's group qparams by nvfp4Params (see there).
override NVFP4_FAST: bool = FP4_NIBBLES && SCALE_KIND == 1u && FP8_SCALE && SYMMETRIC && !MSE && !RECIPROCAL_DIV;

// An NVFP4 group's qparams (global scale gs, FP8 scales, FP4 codes) from its
// max|x| (bits `amax`), as qparamsFromMinMax computes them, with two of its
// exact steps made cheap for a lane that holds only 16 elements:
// RN(max|x| / 6) by symmetricScaleBits (M = 12), and gs · scale by the
// hardware product where inputs and result are normal (exact then). The FP8
// rounding of the scale is FP8_BYTES' bit rounding (normals at bit 20,
// subnormals through + 2^14). A group outside those ranges gets fast = 0 and
// goes to the fixup pass whole. rcp is left 0: the lanes multiply by the
// hardware reciprocal (laneSetup), the fixup recomputes everything exactly.
fn nvfp4Params(amax: u32, gs: f32) -> GroupParams {
  let sb = symmetricScaleBits(amax, 12u);
  let s0 = roundDt(bitcast<f32>(sb), DTYPE);
  let s1 = gs * s0;
  let ok = sb != 0u && isNormalBits(bitcast<u32>(gs) & 0x7fffffffu) && isNormalBits(bitcast<u32>(s0)) && isNormalBits(bitcast<u32>(s1) & 0x7fffffffu);
  // e4m3Decode(e4m3Encode(clamp(s1, ±448))) for s1 ≥ 0.
  let scale = e4m3RoundBits(min(bitcast<u32>(s1) & 0x7fffffffu, 0x43e00000u)).value;
  var gp: GroupParams;
  gp.scale = roundDt(select(scale, p.eps, scale == 0.0), DTYPE);
  gp.zp = 0.0;
  gp.sEff = divRN(gp.scale, gs);
  let se = bitcast<u32>(gp.sEff) & 0x7fffffffu;
  gp.fast = select(0u, 1u, ok && isNormalBits(se) && se < 0x7e800000u);
  gp.rcp = 0.0;
  return gp;
}

override TIE_FAST: bool = SYMMETRIC && !MSE && TDT == 0u && QTYPE == 0u && DTYPE == 0u && SCALE_KIND == 0u && !RECIPROCAL_DIV && BITS >= 2u;

// RN(a / H) for a group's max|x| a (bits `amax`), H = halfRange = M / 2 with
// M an integer (2^BITS − 1 for int codes, 12 for FP4): what qparamsFromMinMax computes with divRN, from the
// hardware product s0 = a · RN(1/H) (within 2 ulp of a / H) corrected in
// integers. With a = A·2^(ea−23), s0 = S0·2^(es−23) (24-bit significands),
// a / H − s0 = D / M ulp(s0) where D = 2A·2^(ea−es) − M·S0 is a small integer
// (computed modulo 2^32), so RN(a / H) is s0 moved by the nearest integer to
// D / M ulps, a tie going to the even significand. Returns the scale's bits,
// or 0 where this does not apply — a outside [2^−100, 2^100) (zero, tiny,
// huge, Inf or NaN groups) or s0 at the edge of its binade, where the ulp
// changes — and the caller hands the group to the exact path.
fn symmetricScaleBits(amax: u32, M: u32) -> u32 {
  if (amax < 0x0d800000u || amax >= 0x71800000u) { return 0u; }
  let sb0 = bitcast<u32>(bitcast<f32>(amax) * p.invHalfRange);
  let A = (amax & 0x7fffffu) | 0x800000u;
  let S0 = (sb0 & 0x7fffffu) | 0x800000u;
  let d = (amax >> 23u) - (sb0 >> 23u);
  let D = bitcast<i32>((A << (d + 1u)) - M * S0);
  if ((S0 == 0x800000u && D < 0) || (S0 >= 0xfffffeu && D > 0) || d > 8u) { return 0u; }
  // n = round(|D| / M) ∈ {0, 1, 2}; 2|D| = M or 3M is a tie between n − 1 and n.
  let a2 = u32(abs(D)) * 2u;
  var n = select(select(2u, 1u, a2 < 3u * M), 0u, a2 < M);
  if ((a2 == M || a2 == 3u * M) && ((sb0 + n - 1u) & 1u) == 0u) { n = n - 1u; }
  return select(sb0 + n, sb0 - n, D < 0);
}

// RN(−a / s) for a group's max|x| (bits `amax`) and its scale s = RN(a / H),
// H = halfRange = (2^BITS − 1) / 2, decided in integers: a / s = H + r / s
// with r = a − H·s exactly representable (the remainder of a correctly
// rounded division), so RN(a / s) = H exactly when |r| ≤ s · ulp(H) / 2 (H's
// significand is even), else the next float below (r < 0) or above. Returns
// the code that quotient rounds to (qmin or qmin + 1), as an exact quotient
// the caller substitutes; 0 when a is too small for the argument (the
// element then takes the exact-division path).
fn symmetricTieQuotient(amax: u32, s: f32) -> f32 {
  let sb = bitcast<u32>(s);
  if (amax < 0x0d800000u || amax >= 0x7f000000u || sb < 0x00800000u) { return 0.0; }
  let A = (amax & 0x7fffffu) | 0x800000u;
  let S = (sb & 0x7fffffu) | 0x800000u;
  // 2·a / s = 2·A / S · 2^d with d ≥ 0 (a / s ≈ H ≥ 1.5); M = 2H.
  let d = (amax >> 23u) - (sb >> 23u);
  let M = (1u << BITS) - 1u;
  // 2r / 2^es = 2A·2^d − M·S, small: exact modulo 2^32.
  let D = bitcast<i32>((A << (d + 1u)) - M * S);
  // |r| ≤ s · 2^(BITS−26)  ⇔  |D| · 2^(25−BITS) ≤ S.
  let onTie = u32(abs(D)) << (25u - BITS) <= S;
  return select(p.qmin + 1.0, p.qmin, onTie || D > 0);
}

struct QTry {
  field: u32,
  value: f32,
  exact: bool,   // false: the quotient is too close to a step, redo it exactly
}

// quantizeValue's hardware-quotient path alone, branch-free (see there for
// the margins): a SIMD adapter runs both sides of every per-element branch.
fn quantizeTry(xb: u32, q0: u32, gp: GroupParams, intLimit: f32) -> QTry {
  let xa = xb & 0x7fffffffu;
  var qb = q0;
  if (DIV_JITTER && xa != 0u) { qb = u32(i32(qb) + i32((xb * 2654435761u) >> 29u) % 5i - 2i); }
  if (TDT == 0u && QTYPE == 0u) {
    // Int codes: the fewest operations per element, since this loop is what
    // a CPU adapter spends its time on. sEff > 0 whenever `fast`, so q keeps
    // x's sign and a huge or tiny |q| is clamped or rounded to the zero point
    // like the exact quotient; only the sign of a zero dequantized value can
    // differ (subnormal x flushed), which matters when it is written.
    let q = bitcast<f32>(qb);
    var t = q;
    if (!SYMMETRIC) { t = t + gp.zp; }
    if (WRITE_FAKE) { t = bitcast<f32>(select(bitcast<u32>(t), 0u, (bitcast<u32>(t) & 0x7fffffffu) == 0u)); }
    // A symmetric scale is max|x| / ((qmax − qmin) / 2), so q ≥ qmin − ½
    // (within a few ulp) and only the upper clamp can act (not after an mse shrink).
    if (SYMMETRIC && !MSE) { t = min(t, p.qmax); } else { t = clamp(t, p.qmin, p.qmax); }
    let r = round(t);
    let field = intField(r);
    var ok = abs(t - r) < intLimit;
    if (WRITE_FAKE) { ok = ok && (xa >= 0x00800000u || xa == 0u); }
    var value = r;
    if (!SYMMETRIC) { value = r - gp.zp; }
    return QTry(field, value, ok);
  }
  let qa = qb & 0x7fffffffu;
  // A zero keeps its sign, as x / scale does.
  let qz = select(qb, (xb ^ bitcast<u32>(gp.sEff)) & 0x80000000u, xa == 0u);
  let q = bitcast<f32>(qz);
  var ok = gp.fast == 1u && xa >= 0x00800000u && qa >= 0x0d000000u && qa < 0x7f000000u;
  var c: QOut;
  if (TDT == 0u && QTYPE == 1u) {
    c = codeOf(q, gp);
    let ta = bitcast<u32>(clamp(q, p.qmin, p.qmax)) & 0x7fffffffu;
    let r = ta & 0xfffffu;
    ok = ok && ta >= 0x3c800000u && (r < 0x7fff0u || r > 0x80010u);
  } else {
    c = codeOf(bitcast<f32>(qz - 6u), gp);
    let c2 = codeOf(bitcast<f32>(qz + 6u), gp);
    ok = ok && c.field == c2.field;
    if (xa == 0u) { c = codeOf(q, gp); }
  }
  return QTry(c.field, c.value, ok || xa == 0u);
}

fn weightWord(i: u32) -> u32 {
#if VEC4
  let q = w[i >> 2u];
  let j = i & 3u;
  return select(select(q.w, q.z, j == 2u), select(q.y, q.x, j == 0u), j < 2u);
#else
  return w[i];
#endif
}

// Min/max keys of `n` elements from element `start` of the bound weight.
fn keysFromMemory(start: u32, n: u32) -> vec2<u32> {
  var mn = 0xffffffffu;
  var mx = 0u;
  for (var i = 0u; i < n; i = i + 1u) {
    let key = orderedKey(weightWord(start + i));
    mn = min(mn, key);
    mx = max(mx, key);
  }
  return vec2<u32>(mn, mx);
}

// Σ(x − Q(x))² and Σx² of `n` elements from element `start`, as quantizeLanes
// sums them (from the hardware quotient: these sums need no exact codes).
fn errorsFromMemory(start: u32, n: u32, gp: GroupParams, rcp: f32) -> vec2<f32> {
  var e2 = 0.0;
  var x2 = 0.0;
  for (var i = 0u; i < n; i = i + 1u) {
    let b = weightWord(start + i);
    let x = bitcast<f32>(b);
    let t = quantizeTry(b, bitcast<u32>(x * rcp), gp, -1.0);
    let d = laneDequant(QOut(t.field, t.value), gp);
    e2 = fma(x - d, x - d, e2);
    x2 = fma(x, x, x2);
  }
  return vec2<f32>(e2, x2);
}

// Dequantized value the error sums use (exact only with WRITE_FAKE, where it is written).
fn laneDequant(q: QOut, gp: GroupParams) -> f32 {
  if (WRITE_FAKE) { return dequantValue(q, gp); }
  return q.value * gp.sEff;
}

struct LaneSetup {
  gp: GroupParams,
  rcp: f32,        // what x is multiplied by for the hardware quotient
  intLimit: f32,   // int codes: |t − round(t)| must stay below this (−1: never)
  tieBits: u32,    // −max|x| of a symmetric group (0xffffffff: none)
  tieQ: f32,       // the exact quotient the tie element takes instead
}

// A lane's group parameters for quantizeChunk, from the group's min/max keys.
fn laneSetup(mn: u32, mx: u32, g: u32, gs: f32, out: ptr<function, LaneSetup>) {
  var gp: GroupParams;
  if (TIE_FAST) {
    // max|x| / halfRange without divRN (most of a lane's fixed cost on a CPU
    // adapter); a group outside its range gets fast = 0, so all its lanes
    // are listed and the fixup pass writes its qparams and codes.
    let sb = symmetricScaleBits(fromKey(mx), (1u << BITS) - 1u);
    let sc = bitcast<f32>(sb);
    gp = GroupParams(sc, sc, 0.0, 0.0, select(1u, 0u, sb == 0u));
  } else if (NVFP4_FAST) {
    gp = nvfp4Params(fromKey(mx) & 0x7fffffffu, gs);
  } else {
    gp = groupParamsFor(mn, mx, g, gs);
  }
  // Int codes with an f32 quotient: x · (hardware 1/sEff) per element; the
  // margin (intLimit) covers its 2.5 ulp, the exact RN(1/sEff) is not needed.
  let intFast = TDT == 0u && QTYPE == 0u;
  var rcp = gp.rcp;
  var intLimit = -1.0;
  if (intFast) {
    rcp = select(0.0, 1.0 / gp.sEff, gp.fast == 1u);
    intLimit = select(-1.0, 0.5 - ldexp(1.0, i32(BITS) + INT_MARGIN_LOG2), gp.fast == 1u);
  }
  // FP4 codes likewise (quantizeChunk's margin there covers the hardware reciprocal).
  if (FP4_NIBBLES) { rcp = select(0.0, 1.0 / gp.sEff, gp.fast == 1u); }
  // A symmetric group's −max|x| divides to within an ulp of qmin − ½ (−7.5
  // for int4, §8) in almost every group, too close for the hardware
  // quotient; its code is decided once per lane (symmetricTieQuotient), so
  // the exact-division loop below only runs for the rare quotient that falls
  // near a step by chance. (+max|x| lands on qmax + ½, which the clamp
  // decides either way.)
  var tieBits = 0xffffffffu;
  var tieQ = 0.0;
  if (TIE_FAST) {
    let amax = fromKey(mx);
    tieQ = symmetricTieQuotient(amax, gp.sEff);
    if (tieQ != 0.0) { tieBits = amax | 0x80000000u; }
  }
  *out = LaneSetup(gp, rcp, intLimit, tieBits, tieQ);
}

// The hardware quotient x · rcp of element bits `xb`, as bits; the test
// jitter (DIV_JITTER) moves it by up to ±2 ulp, leaving zeros alone (0 / s is
// exact on any device).
fn laneQuotient(xb: u32, rcp: f32) -> u32 {
  let qb = bitcast<u32>(bitcast<f32>(xb) * rcp);
  if (DIV_JITTER && (xb & 0x7fffffffu) != 0u) { return u32(i32(qb) + i32((xb * 2654435761u) >> 29u) % 5i - 2i); }
  return qb;
}

// Adds element k's code (integer-valued) to the running half word `half`,
// the codes of 16 / BITS elements summed in f32 as Σ code·2^(BITS·i) (exact
// below 2^16); at the half word's last element stores it into `words`
// through the mantissa of half + `bias` (2^23 plus every field's offset),
// XOR `flip`. Needs BITS to divide 16.
fn foldHalfWord(words: ptr<function, array<u32, 8>>, half: ptr<function, f32>, k: u32, code: f32, bias: f32, flip: u32) {
  let per = 16u / BITS;
  let c = k % per;
  if (c == 0u) { *half = code; } else { *half = fma(code, f32(1u << (BITS * c)), *half); }
  if (c == per - 1u) {
    let hw = (bitcast<u32>(*half + bias) & 0xffffu) ^ flip;
    let h = (k * BITS) >> 4u;
    (*words)[h >> 1u] = (*words)[h >> 1u] | (hw << (16u * (h & 1u)));
  }
}

struct Chunk {
  words: array<u32, 8>,
  e2: f32,
  x2: f32,
  bad: u32,   // 1: an element's quotient fell too close to a step (u32: bool struct members trip some WGSL tools)
}

// Codes of a lane's EPT elements (in `v`) packed into whole words, the error
// sums, and whether the exact path must redo any of them. `fakeAt` is the
// first element's index for the fake-quantized output (written when live).
fn quantizeChunk(v: ptr<function, array<u32, EPT_MAX>>, ls: LaneSetup, fakeAt: u32, live: bool, out: ptr<function, Chunk>) {
  let gp = ls.gp;
  let rcp = ls.rcp;
  let intLimit = ls.intLimit;
  let tieBits = ls.tieBits;
  let tieQ = ls.tieQ;
  var words: array<u32, 8>;
  var e2 = 0.0;
  var x2 = 0.0;
  var bad = false;
  if (FP8_BYTES) {
    // FP8 E4M3 codes with e4m3Encode's rounding, without branches
    // (e4m3RoundBits). The quotient is accepted where the f32 pattern is not
    // within 16 ulp of a halfway point (as quantizeTry), x = ±0 always (code
    // +0: torch adds the zero point); everything else in the subnormal range
    // goes to the fixup pass.
    var good = true;
    for (var k = 0u; k < EPT; k = k + 1u) {
      let xb = (*v)[k];
      let x = bitcast<f32>(xb);
      let xa = xb & 0x7fffffffu;
      let qb = laneQuotient(xb, rcp);
      let t = clamp(bitcast<f32>(qb), p.qmin, p.qmax);
      let tb = bitcast<u32>(t);
      let a = tb & 0x7fffffffu;
      let sign = select(tb & 0x80000000u, 0u, xa == 0u);
      let m = e4m3RoundBits(a);
      let code = m.code | (sign >> 24u);
      let r = a & 0xfffffu;
      good = good && ((a >= 0x3c800000u && (r < 0x7fff0u || r > 0x80010u)) || xa == 0u);
      let e = fma(-bitcast<f32>(bitcast<u32>(m.value) | sign), gp.sEff, x);
      e2 = fma(e, e, e2);
      x2 = fma(x, x, x2);
      words[k >> 2u] = words[k >> 2u] | (code << (8u * (k & 3u)));
    }
    bad = !good || gp.fast == 0u;
  } else if (FP4_NIBBLES) {
    // FP4 E2M1 codes with fp4Encode's rounding, without branches or its
    // table: |t| is scaled to its binade's step (0.5 below 2, 1 below 4, 2
    // up to 6), where rounding half to even is exactly the E2M1 tie to the
    // even code, and the code is that integer plus the binade's offset (0, 2,
    // 4). The binade edges 2 and 4 are grid values, not steps, so only the
    // distance of the scaled value to a half step decides the fixup pass (its
    // ≤ 12 · 5 ulp error stays far below the int margin for 4 bits). Codes go
    // into half words as int codes do (foldHalfWord).
    var worst = 0.0;
    var good = true;
    var half = 0.0;
    for (var k = 0u; k < EPT; k = k + 1u) {
      let xb = (*v)[k];
      let x = bitcast<f32>(xb);
      let xa = xb & 0x7fffffffu;
      let qb = laneQuotient(xb, rcp);
      let qa = qb & 0x7fffffffu;
      // The hardware quotient is tried for normal x with a quotient in range
      // (as quantizeTry); x = ±0 is code 0 (torch adds the zero point).
      good = good && (xa == 0u || (xa >= 0x00800000u && qa >= 0x0d000000u && qa < 0x7f000000u));
      let t = clamp(bitcast<f32>(qb), p.qmin, p.qmax);
      let a = abs(t);
      let small = a < 2.0;
      let mid = a < 4.0;
      let y = a * select(select(0.5, 1.0, mid), 2.0, small);
      let r = round(y);
      worst = max(worst, abs(y - r));
      let mag = r * select(select(2.0, 1.0, mid), 0.5, small);
      let neg = t < 0.0;
      let code = r + select(select(4.0, 2.0, mid), 0.0, small) + select(0.0, 8.0, neg);
      let e = fma(-select(mag, -mag, neg), gp.sEff, x);
      e2 = fma(e, e, e2);
      x2 = fma(x, x, x2);
      foldHalfWord(&words, &half, k, code, 8388608.0, 0u);
    }
    bad = !good || gp.fast == 0u || !(worst < 0.5 - ldexp(1.0, INT_MARGIN_LOG2 + 4));
  } else if (INT_HALVES) {
    // Int codes of a width dividing 16, without the fake output: the same
    // codes as quantizeTry with about half the operations per element, which
    // is what a CPU adapter's time goes to. Per element: quotient, clamp,
    // round, distance to the nearest step (kept as a maximum: one compare per
    // lane), error terms by fma; codes go into half words by foldHalfWord,
    // with every field's offset in the bias.
    let halfBias = 8388608.0 + f32((1u << (BITS - 1u)) * (0xffffu / ((1u << BITS) - 1u)));
    // Two's complement bytes: offset binary with each byte's top bit flipped.
    let flip = select(0u, 0x8080u, PACK_MODE == 1u);
    var worst = 0.0;
    var half = 0.0;
    for (var k = 0u; k < EPT; k = k + 1u) {
      let x = bitcast<f32>((*v)[k]);
      var q = bitcast<f32>(laneQuotient((*v)[k], rcp));
      if (TIE_FAST) { q = select(q, tieQ, (*v)[k] == tieBits); }
      var t = q;
      if (!SYMMETRIC) { t = t + gp.zp; }
      if (SYMMETRIC && !MSE) { t = min(t, p.qmax); } else { t = clamp(t, p.qmin, p.qmax); }
      let r = round(t);
      worst = max(worst, abs(t - r));
      var value = r;
      if (!SYMMETRIC) { value = r - gp.zp; }
      let e = fma(-value, gp.sEff, x);
      e2 = fma(e, e, e2);
      x2 = fma(x, x, x2);
      foldHalfWord(&words, &half, k, r, halfBias, flip);
    }
    bad = !(worst < intLimit);
  } else {
    for (var k = 0u; k < EPT; k = k + 1u) {
      var qb = bitcast<u32>(bitcast<f32>((*v)[k]) * rcp);
      if (TIE_FAST) { qb = select(qb, bitcast<u32>(tieQ), (*v)[k] == tieBits); }
      let t = quantizeTry((*v)[k], qb, gp, intLimit);
      packField(&words, k, t.field);
      let x = bitcast<f32>((*v)[k]);
      let d = laneDequant(QOut(t.field, t.value), gp);
      if (WRITE_FAKE && live) { fake[fakeAt + k] = d; }
      e2 = fma(x - d, x - d, e2);
      x2 = fma(x, x, x2);
      bad = bad || !t.exact;
    }
  }
  *out = Chunk(words, e2, x2, select(0u, 1u, bad));
}

// EPT consecutive weight words from element `at` (a multiple of 4 with VEC4).
fn loadChunk(at: u32, v: ptr<function, array<u32, EPT_MAX>>) {
#if VEC4
  for (var j = 0u; j < EPT / 4u; j = j + 1u) {
    let q = w[(at >> 2u) + j];
    (*v)[4u * j] = q.x;
    (*v)[4u * j + 1u] = q.y;
    (*v)[4u * j + 2u] = q.z;
    (*v)[4u * j + 3u] = q.w;
  }
#else
  for (var k = 0u; k < EPT; k = k + 1u) { (*v)[k] = w[at + k]; }
#endif
}

// Folds a chunk into its group's min/max keys. A symmetric scale needs only
// max|x|: the keys of ±max|x| stand in for the group's min/max (the same
// scale, and NaN/Inf still show); callers derive the min key from the max
// after the cluster reduction.
fn chunkKeys(v: ptr<function, array<u32, EPT_MAX>>, mn: ptr<function, u32>, mx: ptr<function, u32>) {
  if (SYMMETRIC && !MSE) {
    var a = 0u;
    for (var k = 0u; k < EPT; k = k + 1u) { a = max(a, (*v)[k] & 0x7fffffffu); }
    *mx = max(*mx, a | 0x80000000u);
    return;
  }
  for (var k = 0u; k < EPT; k = k + 1u) {
    let key = orderedKey((*v)[k]);
    *mn = min(*mn, key);
    *mx = max(*mx, key);
  }
}

// The packed words of chunk `unit` (EPT elements from element unit·EPT of this dispatch).
fn storeChunkWords(unit: u32, words: array<u32, 8>) {
  let nw = EPT * BITS / 32u;
  let outBase = p.outRowBase * p.rowWords + unit * nw;
  for (var j = 0u; j < nw; j = j + 1u) { packed[outBase + j] = words[j]; }
}

// Per-tensor qparams (TENSOR_LANES), computed once from the observed keys in
// aux[statsOffset] instead of in every lane (exact divisions: a quarter of
// the per-tensor kernel's time on a CPU adapter): qp[0] gets the scale as
// quantizeLanes' group leads write theirs, and qp[setupOffset..] the
// LaneSetup the lanes load. The observed keys stand in for ±max|x|
// (symmetric only).
@compute @workgroup_size(1)
fn tensorSetup() {
  let amax = max(fromKey(aux[p.statsOffset]) & 0x7fffffffu, fromKey(aux[p.statsOffset + 1u]) & 0x7fffffffu);
  let mx = orderedKey(amax);
  let mn = ~mx & 0x7fffffffu;
  var ls: LaneSetup;
  laneSetup(mn, mx, 0u, globalScale(), &ls);
  writeParams(0u, ls.gp, mn, mx);
  let o = p.setupOffset;
  qp[o] = bitcast<u32>(ls.gp.scale);
  qp[o + 1u] = bitcast<u32>(ls.gp.sEff);
  qp[o + 2u] = bitcast<u32>(ls.gp.zp);
  qp[o + 3u] = bitcast<u32>(ls.gp.rcp);
  qp[o + 4u] = ls.gp.fast;
  qp[o + 5u] = bitcast<u32>(ls.rcp);
  qp[o + 6u] = bitcast<u32>(ls.intLimit);
  qp[o + 7u] = ls.tieBits;
  qp[o + 8u] = bitcast<u32>(ls.tieQ);
}

// The LaneSetup tensorSetup left in qp.
fn loadTensorSetup() -> LaneSetup {
  let o = p.setupOffset;
  let gp = GroupParams(bitcast<f32>(qp[o]), bitcast<f32>(qp[o + 1u]), bitcast<f32>(qp[o + 2u]), bitcast<f32>(qp[o + 3u]), qp[o + 4u]);
  return LaneSetup(gp, bitcast<f32>(qp[o + 5u]), bitcast<f32>(qp[o + 6u]), qp[o + 7u], bitcast<f32>(qp[o + 8u]));
}

@compute @workgroup_size(WG)
fn quantizeLanes(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>
#if SUBGROUPS
                 , @builtin(subgroup_invocation_id) sgLane: u32, @builtin(subgroup_size) sgSize: u32
#endif
) {
#if SUBGROUPS
  // The global invocation id (not workgroup_id · WG + local_invocation_index):
  // lavapipe derives local_invocation_index from a per-lane integer division,
  // and this keeps its loads and stores to consecutive lanes (see lib/grid.wgsl).
  // Folded workgroups past the dispatch's last have u ≥ nUnits.
  let u = linearInvocation(gid, nwg, WG);
  let live = u < p.nUnits;
  // Lanes per group, a power of two: shifts and masks only, since a CPU
  // adapter has no vector integer division.
  let tensor = TENSOR_LANES > 0u;
  let lpg = select(p.groupCols / EPT, TENSOR_LANES, tensor);
  let lpgShift = countTrailingZeros(lpg);
  let inBase = p.inRowBase * p.cols + u * EPT;
  var v: array<u32, EPT_MAX>;
  var mn = 0xffffffffu;
  var mx = 0u;
  if (live) {
    loadChunk(inBase, &v);
    if (!tensor) { chunkKeys(&v, &mn, &mx); }
  }
  // (WG is a multiple of the subgroup size, so u − sgLane is aligned like
  // the subgroup's first local index.)
  let base = u - sgLane;
  let firstBase = subgroupBroadcastFirst(base);
  let clustered = subgroupAll(sgSize >= lpg && (base & (sgSize - 1u)) == 0u && base == firstBase);
  // Butterfly over the group's lanes, also when they fill the subgroup: a
  // CPU adapter would run a subgroupMax branch for that case as well as this.
  if (!tensor) {
    for (var m = 1u; m < lpg; m = m << 1u) {
      mx = max(mx, subgroupShuffleXor(mx, m));
      if (!SYMMETRIC || MSE) { mn = min(mn, subgroupShuffleXor(mn, m)); }
    }
  }
  // A symmetric group's min key is the key of −max|x| (see above).
  if (SYMMETRIC && !MSE) { mn = ~mx & 0x7fffffffu; }
  let laneInGroup = u & (lpg - 1u);

  // Groups tile whole rows (cols is a multiple of groupCols), so the group
  // index is the element index over groupCols; a per-tensor scale is group 0.
  let g = select(p.globalRowBase * p.nGroupCols + (u >> lpgShift), 0u, tensor);
  let gs = globalScale();
  var ls: LaneSetup;
  if (tensor) {
    ls = loadTensorSetup();
  } else {
    laneSetup(mn, mx, g, gs, &ls);
  }
  let gp = ls.gp;
  let lead = live && laneInGroup == 0u;
  if (lead && !tensor) {
    writeParams(g, gp, mn, mx);
    if (SCALE_KIND == 1u && g == 0u) { qp[p.gsOffset] = bitcast<u32>(gs); }
  }
  var ch: Chunk;
  quantizeChunk(&v, ls, inBase, live, &ch);
  let words = ch.words;
  var e2 = ch.e2;
  var x2 = ch.x2;
  let bad = ch.bad == 1u;
  // Rare: a lane with a quotient too close to a rounding step is flagged for
  // quantizeLanesFixup. A CPU adapter executes every branch of a kernel,
  // taken or not, so the exact redo lives in its own (indirect) dispatch
  // sized by the lanes actually flagged, instead of in this one. So is every
  // lane of a subgroup whose lanes are not clustered as assumed. The group's
  // lead stores the flags as one word (a plain store: atomics here, executed
  // masked by every SIMD vector, cost lavapipe a quarter of the kernel).
  let flags = subgroupBallot(live && (bad || !clustered));
  if (lead) {
    // The group's lanes are subgroup lanes sgLane..sgLane + lpg − 1, inside
    // one 32-bit ballot word since lpg ≤ 32 is a power of two (when clustered).
    let bits = (flags[sgLane >> 5u] >> (sgLane & 31u)) & select((1u << lpg) - 1u, FIX_ALL, lpg == 32u);
    fixWords[u >> lpgShift] = select(bits, FIX_ALL, gp.fast == 0u || !clustered);
  }
  if (live) { storeChunkWords(u, words); }
  for (var m = 1u; m < lpg; m = m << 1u) {
    e2 = e2 + subgroupShuffleXor(e2, m);
    x2 = x2 + subgroupShuffleXor(x2, m);
  }

  // One error partial per group.
  if (lead) { storeErrorPartial(u >> lpgShift, e2, x2); }
#endif
}

// ---------------------------------------------------------------- rows

// quantizeRows (subgroup variant only): one-row groups too wide for a lane
// cluster (channel strategy, group_size 256, 512…; any multiple of sgMax ·
// EPT), each held by one whole subgroup that walks the group in passes of
// sgSize · EPT elements: the first pass reduces the min/max keys, the second
// reloads each lane's EPT elements (from cache) and codes them with
// quantizeChunk, as quantizeLanes does. No barriers and no workgroup memory,
// which a CPU adapter would run as coroutines. Work units are EPT-element
// chunks, so lanes with a quotient near a step go to quantizeLanesFixup like
// quantizeLanes' lanes. A subgroup that is not consecutive invocations
// aligned to its size (which WGSL does not promise) lists all its chunks.
@compute @workgroup_size(WG)
fn quantizeRows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>
#if SUBGROUPS
                , @builtin(subgroup_invocation_id) sgLane: u32, @builtin(subgroup_size) sgSize: u32
#endif
) {
#if SUBGROUPS
  // The global invocation id, as in quantizeLanes.
  let inv = linearInvocation(gid, nwg, WG);
  // Group and lane by invocation index, so every chunk has exactly one owner
  // even when subgroups are not laid out as assumed.
  let gl = inv >> countTrailingZeros(sgSize);
  let lane = inv & (sgSize - 1u);
  let live = gl < p.nUnits;
  let base = inv - sgLane;
  let firstBase = subgroupBroadcastFirst(base);
  let clustered = subgroupAll((base & (sgSize - 1u)) == 0u && base == firstBase);
  let step = sgSize * EPT;
  let passes = p.groupCols / step;
  let groupStart = p.inRowBase * p.cols + gl * p.groupCols;
  var mn = 0xffffffffu;
  var mx = 0u;
  for (var ps = 0u; ps < passes; ps = ps + 1u) {
    let at = groupStart + ps * step + lane * EPT;
    if (live) {
      var v: array<u32, EPT_MAX>;
      loadChunk(at, &v);
      chunkKeys(&v, &mn, &mx);
    }
  }
  mx = subgroupMax(mx);
  if (SYMMETRIC && !MSE) { mn = ~mx & 0x7fffffffu; } else { mn = subgroupMin(mn); }
  // Groups tile whole rows, so this dispatch's group gl is the tensor's group
  // globalRowBase · nGroupCols + gl.
  let g = p.globalRowBase * p.nGroupCols + gl;
  let gs = globalScale();
  var ls: LaneSetup;
  laneSetup(mn, mx, g, gs, &ls);
  if (live && lane == 0u) {
    writeParams(g, ls.gp, mn, mx);
    if (SCALE_KIND == 1u && g == 0u) { qp[p.gsOffset] = bitcast<u32>(gs); }
  }
  var e2 = 0.0;
  var x2 = 0.0;
  // Flag words of this group (see listFixups): 32 chunks each, written by one
  // lane per word — lane 0 collecting several passes when sgSize < 32.
  let wordBase = gl * fixWordsPerGroup();
  let whole = ls.gp.fast == 0u || !clustered;
  var pending = 0u;
  for (var ps = 0u; ps < passes; ps = ps + 1u) {
    let at = groupStart + ps * step + lane * EPT;
    var v: array<u32, EPT_MAX>;
    if (live) { loadChunk(at, &v); }
    var ch: Chunk;
    quantizeChunk(&v, ls, at, live, &ch);
    e2 = e2 + ch.e2;
    x2 = x2 + ch.x2;
    // This chunk's unit: its first element (within the dispatch) over EPT.
    let unit = (at - p.inRowBase * p.cols) / EPT;
    if (live) { storeChunkWords(unit, ch.words); }
    let flags = subgroupBallot(live && (ch.bad == 1u || !clustered));
    let first = ps * sgSize;
    if (sgSize >= 32u) {
      if (live && (lane & 31u) == 0u) { fixWords[wordBase + ((first + lane) >> 5u)] = select(flags[lane >> 5u], FIX_ALL, whole); }
    } else {
      pending = pending | (flags.x << (first & 31u));
      if (((first + sgSize) & 31u) == 0u || ps + 1u == passes) {
        if (live && lane == 0u) { fixWords[wordBase + (first >> 5u)] = select(pending, FIX_ALL, whole); }
        pending = 0u;
      }
    }
  }
  e2 = subgroupAdd(e2);
  x2 = subgroupAdd(x2);
  if (live && lane == 0u) { storeErrorPartial(gl, e2, x2); }
#endif
}

// ---------------------------------------------------------------- lanes fixup

// The fixup pass in three steps, all on the GPU:
//   1. quantizeLanes / quantizeRows store, per group, flag words (`fixWords`):
//      bit j of word k flags the group's chunk 32k + j; FIX_ALL marks a
//      group whose qparams must be recomputed from memory too (the main
//      kernel could not scale it, or its subgroup was not clustered).
//   2. listFixups turns the flags into the fixup list (`masks` there,
//      `fixList` in the fixup): [0..3) the indirect workgroup counts
//      (x, 1, 1), [3] the number of listed chunks, [4 + i] chunk i (its unit
//      index, | FIX_WHOLE_GROUP). The host writes (0, 1, 1, 0) beforehand.
//   3. quantizeLanesFixup, dispatched indirectly from that list, redoes them.
const FIX_WG: u32 = 64u;
const FIX_MAX_WORKGROUPS: u32 = 65535u;
const FIX_WHOLE_GROUP: u32 = 0x80000000u;
const FIX_ALL: u32 = 0xffffffffu;
// Flag words per listFixups invocation: few invocations, so that its atomics
// (which a CPU adapter runs for every SIMD vector, flagged or not) stay cheap.
const LIST_WORDS: u32 = 16u;

// Flag words per group: one per 32 chunks (units) of EPT elements.
fn fixWordsPerGroup() -> u32 {
  return (p.groupCols / EPT + 31u) / 32u;
}

// Lists the chunks the main kernel flagged, LIST_WORDS flag words per
// invocation (the dispatch's groups tile whole rows: rows · nGroupCols groups).
@compute @workgroup_size(FIX_WG)
fn listFixups(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = linearInvocation(gid, nwg, FIX_WG);
  let tensor = TENSOR_LANES > 0u;
  let upg = select(p.groupCols / EPT, TENSOR_LANES, tensor);
  let wpg = select(fixWordsPerGroup(), 1u, tensor);
  let nWords = select(p.rows * p.nGroupCols * wpg, (p.nUnits + TENSOR_LANES - 1u) / max(TENSOR_LANES, 1u), tensor);
  var words: array<u32, LIST_WORDS>;
  var total = 0u;
  for (var k = 0u; k < LIST_WORDS; k = k + 1u) {
    let wi = t * LIST_WORDS + k;
    var b = 0u;
    if (wi < nWords) {
      // The chunks word wi covers (fewer than 32 in a group's last word, or
      // in the last cluster of a per-tensor weight).
      let n = select(min(32u, upg - (wi % wpg) * 32u), min(upg, p.nUnits - wi * upg), tensor);
      b = fixWords[wi] & select((1u << n) - 1u, FIX_ALL, n == 32u);
    }
    words[k] = b;
    total = total + countOneBits(b);
  }
  if (total == 0u) { return; }
  var at = atomicAdd(&masks[3], total);
  // The indirect x grows to cover the last entry, capped at
  // FIX_MAX_WORKGROUPS; the fixup kernel strides over the rest.
  atomicMax(&masks[0], min((at + total - 1u) / FIX_WG + 1u, FIX_MAX_WORKGROUPS));
  for (var k = 0u; k < LIST_WORDS; k = k + 1u) {
    let wi = t * LIST_WORDS + k;
    var b = words[k];
    let whole = b != 0u && fixWords[wi] == FIX_ALL;
    let first = (wi / wpg) * upg + (wi % wpg) * 32u;
    while (b != 0u) {
      let j = countTrailingZeros(b);
      b = b & (b - 1u);
      atomicStore(&masks[4u + at], (first + j) | select(0u, FIX_WHOLE_GROUP, whole));
      at = at + 1u;
    }
  }
}

// GroupParams of symmetric group g as the main kernel wrote them to qp.
fn storedParams(g: u32, gs: f32) -> GroupParams {
  var gp: GroupParams;
  gp.scale = bitcast<f32>(qp[g]);
  gp.zp = 0.0;
  gp.sEff = gp.scale;
  if (SCALE_KIND == 1u) { gp.sEff = divRN(gp.scale, gs); }
  return withReciprocal(gp);
}

// Re-quantizes listed lanes with the exact division for every element: the
// group's min/max and qparams from memory (the values quantizeLanes computed,
// or could not), then codes, words and the fake-quantized output. Other
// lanes' error terms stay quantizeLanes' (those need no exact codes).
@compute @workgroup_size(FIX_WG)
fn quantizeLanesFixup(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let count = fixList[3];
  // Units per group (a power of two for quantizeLanes, any count for
  // quantizeRows); per cluster with a per-tensor scale.
  let tensor = TENSOR_LANES > 0u;
  let lpg = select(p.groupCols / EPT, TENSOR_LANES, tensor);
  let gs = globalScale();
  for (var i = gid.x; i < count; i = i + nwg.x * FIX_WG) {
    let entry = fixList[4u + i];
    let u = entry & ~FIX_WHOLE_GROUP;
    let inBase = p.inRowBase * p.cols + u * EPT;
    let gl = u / lpg;
    let g = p.globalRowBase * p.nGroupCols + gl;
    var gp: GroupParams;
    if (tensor) {
      // The tensor's qparams are in qp[0] (symmetric). A whole-flagged
      // cluster (the scale outside the hardware quotient's range, or lanes
      // not clustered) also gets its error partial recomputed here.
      gp = storedParams(0u, gs);
      if ((entry & FIX_WHOLE_GROUP) != 0u && u % lpg == 0u) {
        let r = errorsFromMemory(inBase, min(lpg, p.nUnits - u) * EPT, gp, gp.rcp);
        storeErrorPartial(u / lpg, r.x, r.y);
      }
    } else if ((entry & FIX_WHOLE_GROUP) == 0u && SYMMETRIC) {
      // The group's qparams are right in qp; only this chunk's codes are not.
      // (An asymmetric group recomputes its zero point: qp holds it as an
      // integer, without the sign of a −0 that the codes' zeros depend on.)
      gp = storedParams(g, gs);
    } else {
      let groupStart = inBase - (u % lpg) * EPT;
      let keys = keysFromMemory(groupStart, p.groupCols);
      gp = groupParamsFor(keys.x, keys.y, g, gs);
      if (u % lpg == 0u) {
        // A group the main kernel could not scale lists all its chunks, the
        // first among them: its qparams and error partial are written here.
        writeParams(g, gp, keys.x, keys.y);
        let r = errorsFromMemory(groupStart, p.groupCols, gp, gp.rcp);
        storeErrorPartial(gl, r.x, r.y);
      }
    }
    var words: array<u32, 8>;
    for (var k = 0u; k < EPT; k = k + 1u) {
      let q = quantizeValue(weightWord(inBase + k), gp);
      if (WRITE_FAKE) { fake[inBase + k] = dequantValue(q, gp); }
      packField(&words, k, q.field);
    }
    storeChunkWords(u, words);
  }
}

// ---------------------------------------------------------------- mse search

// Error of one element under candidate qparams: |fq(x) − x|^norm in the model dtype.
fn mseError(xb: u32, gp: GroupParams) -> f32 {
  let q = quantizeValue(xb, gp);
  let fq = dequantValue(q, gp);
  let d = abs(roundDt(fq - bitcast<f32>(xb), DTYPE));
  if (d == 0.0) { return 0.0; }
  return roundDt(pow(d, p.mseNorm), DTYPE);
}

// The search kernels bind the aux buffer only as `masks` (a buffer cannot be
// bound writable and read-only in one dispatch), so shrink factors come from there.
fn candidate(lo0: f32, hi0: f32, i: u32) -> GroupParams {
  let f = bitcast<f32>(atomicLoad(&masks[p.shrinkOffset + i]));
  let lo = roundDt(mulRN(lo0, f), DTYPE);
  let hi = roundDt(mulRN(hi0, f), DTYPE);
  return qparamsFromMinMax(bitcast<u32>(lo), bitcast<u32>(hi), 1.0, true);
}

// Segmented sum over the tpg lanes of each group (a shared-memory tree: the
// lanes of a group are consecutive invocations, which subgroups do not
// promise to be).
fn groupSum(li: u32, lane: u32, x: f32) -> f32 {
  redF[li] = x;
  workgroupBarrier();
  for (var s = p.tpg / 2u; s > 0u; s = s >> 1u) {
    if (lane < s) { redF[li] = redF[li] + redF[li + s]; }
    workgroupBarrier();
  }
  let r = redF[li - lane];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn mseGroups(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let wgId = linearWorkgroup(wid, nwg);
  var s: GroupSlot;
  groupSlot(wgId, li, &s);
  observeGroup(s);
  let minKey = ~atomicLoad(&slotMinInv[s.slot]);
  let maxKey = atomicLoad(&slotMax[s.slot]);
  let lo0 = roundDt(mulRN(bitcast<f32>(fromKey(minKey)), p.mseExpand), DTYPE);
  let hi0 = roundDt(mulRN(bitcast<f32>(fromKey(maxKey)), p.mseExpand), DTYPE);
  var best = F32_MAX;
  var mask = 0u;
  for (var i = 0u; i < p.mseSteps; i = i + 1u) {
    var err = 0.0;
    if (s.live == 1u) {
      let gp = candidate(lo0, hi0, i);
      for (var j = s.lane; j < s.nSeg; j = j + p.tpg) {
        var sg: vec3<u32>;
        segmentOf(s, j, &sg);
        let v = loadSeg((p.inRowBase + sg.x) * p.cols + sg.y, sg.z);
        for (var k = 0u; k < sg.z; k = k + 1u) { err = err + mseError(v[k], gp); }
      }
    }
    err = roundDt(groupSum(li, s.lane, err), DTYPE);
    if (err < best) {
      best = err;
      mask = mask | (1u << i);
    }
  }
  if (s.live == 1u && s.lane == 0u) {
    atomicStore(&masks[p.maskOffset + 1u + s.g], mask);
    atomicOr(&wgMask, mask);
  }
  workgroupBarrier();
  if (li == 0u) { atomicOr(&masks[p.maskOffset], atomicLoad(&wgMask)); }
}

@compute @workgroup_size(WG)
fn mseSegments(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  let wgId = linearWorkgroup(wid, nwg);
  let t = wgId * WG + li;
  if (wgId < p.nWorkgroups && t < p.nUnits) {
    let r = t / p.segsPerRow;
    let seg = t % p.segsPerRow;
    let c0 = seg * 32u;
    let n = min(32u, p.cols - c0);
    let R = p.globalRowBase + r;
    let v = loadSeg((p.inRowBase + r) * p.cols + c0, n);
    let gw = p.groupCols;
    var anyMask = 0u;
    for (var k0 = 0u; k0 < n; k0 = k0 + gw) {
      let kn = min(k0 + gw, n);
      var mn = 0xffffffffu;
      var mx = 0u;
      for (var k = k0; k < kn; k = k + 1u) {
        let key = orderedKey(v[k]);
        mn = min(mn, key);
        mx = max(mx, key);
      }
      let lo0 = roundDt(mulRN(bitcast<f32>(fromKey(mn)), p.mseExpand), DTYPE);
      let hi0 = roundDt(mulRN(bitcast<f32>(fromKey(mx)), p.mseExpand), DTYPE);
      var best = F32_MAX;
      var mask = 0u;
      for (var i = 0u; i < p.mseSteps; i = i + 1u) {
        let gp = candidate(lo0, hi0, i);
        var err = 0.0;
        for (var k = k0; k < kn; k = k + 1u) { err = err + mseError(v[k], gp); }
        err = roundDt(err, DTYPE);
        if (err < best) {
          best = err;
          mask = mask | (1u << i);
        }
      }
      let g = R * p.nGroupCols + (c0 + k0) / gw;
      atomicStore(&masks[p.maskOffset + 1u + g], mask);
      anyMask = anyMask | mask;
    }
    atomicOr(&wgMask, anyMask);
  }
  workgroupBarrier();
  if (li == 0u) { atomicOr(&masks[p.maskOffset], atomicLoad(&wgMask)); }
}

// ---------------------------------------------------------------- self-test

// Exercises the exact-arithmetic helpers on pairs (a, b) = (w[2i], w[2i+1])
// for the tests: packed[8i..8i+8) = divRN(a, b), mulExact(a, b),
// addPos(|a|, |b|), a→f16, a→bf16, FP8 code of clamp(a, ±448), FP4 code of
// clamp(a, ±6), mulRN(a, b). `nUnits` pairs.
@compute @workgroup_size(WG)
fn arithmeticSelfTest(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) li: u32) {
  let i = linearWorkgroup(wid, nwg) * WG + li;
  if (i >= p.nUnits) { return; }
#if VEC4
  let pair = w[i / 2u];
  let a = bitcast<f32>(select(pair.x, pair.z, (i & 1u) == 1u));
  let b = bitcast<f32>(select(pair.y, pair.w, (i & 1u) == 1u));
#else
  let a = bitcast<f32>(w[2u * i]);
  let b = bitcast<f32>(w[2u * i + 1u]);
#endif
  let o = 8u * i;
  packed[o] = bitcast<u32>(divRN(a, b));
  packed[o + 1u] = bitcast<u32>(mulExact(a, b));
  packed[o + 2u] = bitcast<u32>(addPos(bitcast<u32>(a) & 0x7fffffffu, bitcast<u32>(b) & 0x7fffffffu));
  packed[o + 3u] = bitcast<u32>(roundDt(a, 1u));
  packed[o + 4u] = bitcast<u32>(roundDt(a, 2u));
  packed[o + 5u] = e4m3Encode(clamp(a, -448.0, 448.0));
  packed[o + 6u] = fp4Encode(clamp(a, -6.0, 6.0));
  packed[o + 7u] = bitcast<u32>(mulRN(a, b));
}
