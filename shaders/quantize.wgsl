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
//   - per element, x / scale is first computed with the hardware division; the
//     code is accepted when q·(1 ± 3 ulp) give the same code, otherwise the
//     quotient is recomputed exactly. Codes are step functions of the quotient,
//     so this equals rounding the exact quotient (compressed-tensors.md §8:
//     every group's maximum sits on a ±7.5 tie).
// These numerics live in shaders/lib/ (fakequant, floatbits, minifloat),
// shared with the activation quantizer (shaders/actquant.wgsl).
// Group min/max are kept as order-preserving u32 keys (see orderedKey);
// a NaN or ±Inf element shows up as a key beyond ±Inf and makes the group's
// scale NaN, which the host reports with the tensor's name.
//
// Entry points:
//   quantizeLanes    - groups of one row, a power of two wide (group_size 32,
//                      64, 128…): a cluster of subgroup lanes per group, no
//                      barriers (subgroup variant only; see its comment).
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

fn wgLinear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y;
}

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

// Dense little-endian packing of 32 fields of `bits` bits: element k at bit k*bits.
fn storeFields(fields: array<u32, 32>, row: u32, seg: u32) {
  var words: array<u32, 8>;
  let b = BITS;
  for (var k = 0u; k < 32u; k = k + 1u) {
    let u = fields[k];
    let bit = k * b;
    let wi = bit >> 5u;
    let s = bit & 31u;
    words[wi] = words[wi] | (u << s);
    if (s + b > 32u) { words[wi + 1u] = words[wi + 1u] | (u >> (32u - s)); }
  }
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

fn writeErrors(li: u32, wgId: u32, sums: vec2<f32>) {
  if (li == 0u && wgId < p.nWorkgroups) {
    qp[p.errOffset + 2u * wgId] = bitcast<u32>(sums.x);
    qp[p.errOffset + 2u * wgId + 1u] = bitcast<u32>(sums.y);
  }
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
  let wgId = wgLinear(wid, nwg);
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
  let wgId = wgLinear(wid, nwg);
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
// lane computes its group's qparams itself (the cluster agrees), the code of
// each element comes from the hardware quotient, and the few elements whose
// quotient lies too close to a rounding step for that (quantizeTry) are
// redone with the exact division under a subgroup-uniform branch, which a
// SIMD adapter skips when no lane of the subgroup needs it.
//
// Clusters need subgroup lanes that are consecutive invocations aligned to
// the subgroup size, which every known implementation does but WGSL does not
// promise: a subgroup that finds otherwise reads its groups from memory
// instead (slow, same results).

override EPT: u32 = 8u;   // elements per lane: a power of two, EPT · BITS a multiple of 32
const EPT_MAX: u32 = 32u;

struct QTry {
  field: u32,
  value: f32,
  exact: bool,   // false: the quotient is too close to a step, redo it with divRN
}

// quantizeValue's hardware-quotient path alone, branch-free (see there for
// the margins): a SIMD adapter runs both sides of every per-element branch.
fn quantizeTry(xb: u32, gp: GroupParams) -> QTry {
  let xa = xb & 0x7fffffffu;
  var qb = bitcast<u32>(bitcast<f32>(xb) * gp.rcp);
  if (DIV_JITTER) { qb = u32(i32(qb) + i32((xb * 2654435761u) >> 29u) % 5i - 2i); }
  let qa = qb & 0x7fffffffu;
  // A zero keeps its sign, as x / scale does.
  let qz = select(qb, (xb ^ bitcast<u32>(gp.sEff)) & 0x80000000u, xa == 0u);
  let q = bitcast<f32>(qz);
  var ok = gp.fast == 1u && xa >= 0x00800000u && qa >= 0x0d000000u && qa < 0x7f000000u;
  var c: QOut;
  if (TDT == 0u && QTYPE == 0u) {
    c = codeOf(q, gp);
    let t = q + gp.zp;
    ok = ok && (abs(t) >= 512.0 || abs(t - round(t)) < 0.5 - 4.8828125e-4);
  } else if (TDT == 0u && QTYPE == 1u) {
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

// Σ(x − Q(x))² and Σx² of `n` elements from element `start`, as quantizeLanes sums them.
fn errorsFromMemory(start: u32, n: u32, gp: GroupParams) -> vec2<f32> {
  var e2 = 0.0;
  var x2 = 0.0;
  for (var i = 0u; i < n; i = i + 1u) {
    let b = weightWord(start + i);
    let q = quantizeValue(b, gp);
    let x = bitcast<f32>(b);
    var d = q.value * gp.sEff;
    if (WRITE_FAKE) { d = dequantValue(q, gp); }
    e2 = e2 + (x - d) * (x - d);
    x2 = x2 + x * x;
  }
  return vec2<f32>(e2, x2);
}

// Dequantized value the error sums use (exact only with WRITE_FAKE, where it is written).
fn laneDequant(q: QOut, gp: GroupParams) -> f32 {
  if (WRITE_FAKE) { return dequantValue(q, gp); }
  return q.value * gp.sEff;
}

// The exact-division loop exits on subgroupAny, so the whole subgroup leaves
// it together: its subgroup calls are subgroup-uniform, which the (workgroup-
// scope) uniformity analysis cannot see.
@compute @workgroup_size(WG) @diagnostic(off, subgroup_uniformity)
fn quantizeLanes(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32
#if SUBGROUPS
                 , @builtin(subgroup_invocation_id) sgLane: u32, @builtin(subgroup_size) sgSize: u32
#endif
) {
#if SUBGROUPS
  let wgId = wgLinear(wid, nwg);
  let u = wgId * WG + li;
  let live = wgId < p.nWorkgroups && u < p.nUnits;
  // Lanes per group, a power of two: shifts and masks only, since a CPU
  // adapter has no vector integer division.
  let lpg = p.groupCols / EPT;
  let lpgShift = countTrailingZeros(lpg);
  let inBase = p.inRowBase * p.cols + u * EPT;
  var v: array<u32, EPT_MAX>;
  var mn = 0xffffffffu;
  var mx = 0u;
  if (live) {
#if VEC4
    for (var j = 0u; j < EPT / 4u; j = j + 1u) {
      let q = w[(inBase >> 2u) + j];
      v[4u * j] = q.x;
      v[4u * j + 1u] = q.y;
      v[4u * j + 2u] = q.z;
      v[4u * j + 3u] = q.w;
    }
#else
    for (var k = 0u; k < EPT; k = k + 1u) { v[k] = w[inBase + k]; }
#endif
    for (var k = 0u; k < EPT; k = k + 1u) {
      let key = orderedKey(v[k]);
      mn = min(mn, key);
      mx = max(mx, key);
    }
  }
  let base = li - sgLane;
  let whole = lpg == sgSize;
  let clustered = subgroupAll(sgSize >= lpg && (base & (sgSize - 1u)) == 0u && base == subgroupBroadcastFirst(base));
  if (whole) {
    mn = subgroupMin(mn);
    mx = subgroupMax(mx);
  } else {
    for (var m = 1u; m < lpg; m = m << 1u) {
      mn = min(mn, subgroupShuffleXor(mn, m));
      mx = max(mx, subgroupShuffleXor(mx, m));
    }
  }
  let laneInGroup = u & (lpg - 1u);
  let groupStart = inBase - laneInGroup * EPT;
  if (live && !clustered) {
    let k2 = keysFromMemory(groupStart, p.groupCols);
    mn = k2.x;
    mx = k2.y;
  }
  // Groups tile whole rows (cols is a multiple of groupCols), so the group
  // index is the element index over groupCols.
  let g = p.globalRowBase * p.nGroupCols + (u >> lpgShift);
  let gs = globalScale();
  let gp = groupParamsFor(mn, mx, g, gs);
  let lead = live && laneInGroup == 0u;
  if (lead) {
    writeParams(g, gp, mn, mx);
    if (SCALE_KIND == 1u && g == 0u) { qp[p.gsOffset] = bitcast<u32>(gs); }
  }
  var words: array<u32, 8>;
  var e2 = 0.0;
  var x2 = 0.0;
  var redo = 0u;
  for (var k = 0u; k < EPT; k = k + 1u) {
    let t = quantizeTry(v[k], gp);
    let bit = k * BITS;
    let s = bit & 31u;
    words[bit >> 5u] = words[bit >> 5u] | (t.field << s);
    if (s + BITS > 32u) { words[(bit >> 5u) + 1u] = words[(bit >> 5u) + 1u] | (t.field >> (32u - s)); }
    let x = bitcast<f32>(v[k]);
    let d = laneDequant(QOut(t.field, t.value), gp);
    if (WRITE_FAKE && live) { fake[inBase + k] = d; }
    e2 = e2 + (x - d) * (x - d);
    x2 = x2 + x * x;
    redo = redo | select(1u << k, 0u, t.exact || !live);
  }
  // Rare: one exact division per lane and round, while any lane of the
  // subgroup has one left (each group's extreme sits on a tie, §8).
  loop {
    if (!subgroupAny(redo != 0u)) { break; }
    let kr = countTrailingZeros(redo);
    var xb = 0u;
    for (var k = 0u; k < EPT; k = k + 1u) { xb = select(xb, v[k], k == kr); }
    let q = codeOf(divRN(bitcast<f32>(xb), gp.sEff), gp);
    // The error sums keep the hardware code's term: the element sits on a
    // rounding step, equally far from both codes. The fake output is exact.
    if (WRITE_FAKE && redo != 0u) { fake[inBase + kr] = dequantValue(q, gp); }
    let bit = kr * BITS;
    let s = bit & 31u;
    let mask = (1u << BITS) - 1u;
    for (var j = 0u; j < EPT * BITS / 32u; j = j + 1u) {
      var wj = words[j];
      if (j == (bit >> 5u)) { wj = (wj & ~(mask << s)) | (q.field << s); }
      if (s + BITS > 32u && j == (bit >> 5u) + 1u) { wj = (wj & ~(mask >> (32u - s))) | (q.field >> (32u - s)); }
      words[j] = select(words[j], wj, redo != 0u);
    }
    redo = redo & (redo - 1u);
  }
  if (live) {
    let nw = EPT * BITS / 32u;
    let outBase = p.outRowBase * p.rowWords + u * nw;
    for (var j = 0u; j < nw; j = j + 1u) { packed[outBase + j] = words[j]; }
  }
  if (whole) {
    e2 = subgroupAdd(e2);
    x2 = subgroupAdd(x2);
  } else {
    for (var m = 1u; m < lpg; m = m << 1u) {
      e2 = e2 + subgroupShuffleXor(e2, m);
      x2 = x2 + subgroupShuffleXor(x2, m);
    }
  }
  if (live && !clustered && lead) {
    let r = errorsFromMemory(groupStart, p.groupCols, gp);
    e2 = r.x;
    x2 = r.y;
  }
  // One error partial per group.
  if (lead) {
    qp[p.errOffset + 2u * (u >> lpgShift)] = bitcast<u32>(e2);
    qp[p.errOffset + 2u * (u >> lpgShift) + 1u] = bitcast<u32>(x2);
  }
#endif
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
  let wgId = wgLinear(wid, nwg);
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
  let wgId = wgLinear(wid, nwg);
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
  let i = wgLinear(wid, nwg) * WG + li;
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
