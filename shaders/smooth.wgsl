// Channel statistics and channel scaling for the activation-aware transforms
// (SmoothQuant, AWQ: llm-compressor.md §6.4–6.5).
//
// Column statistics of a [rows, cols] f32 tensor (activations from a hook, or
// a weight) take two passes so that the result does not depend on scheduling
// (no float atomics, the same bits on every run):
//   columnPartials  one workgroup per (column tile, block of rows): TX vec4
//                   columns × TY row lanes; each lane folds its rows in order,
//                   then the lanes combine in a fixed tree in workgroup memory
//                   and one partial per column is written for the block;
//   columnFold      one invocation per vec4 column folds the blocks' partials
//                   in block order and combines them with the running value.
// OP: 0 Σ|x|, 1 max|x|, 2 min and max of x, 3 Σ |x| / (max|x| of its
// quantization group + 1e-6) (AWQ's normalised weight magnitude; NORM flag).
//
// The scaling kernels work in place on one chunk of a (possibly chunked)
// weight, so no second copy of a large weight is made.

struct PartialParams {
  rows: u32,          // rows of this chunk
  cols4: u32,         // columns / 4
  rowsPerBlock: u32,
  colTiles: u32,      // workgroups across the columns
  nWork: u32,         // colTiles × blocks of this dispatch
  blockBase: u32,     // index of this dispatch's first block in `part`
  maxBase: u32,       // vec4 index of the max partials (OP 2)
  globalRow: u32,     // global index of this chunk's first row (OP 3)
  groupRows: u32,
  groupCols: u32,
  nGroupCols: u32,
  _p0: u32,
}

struct FoldParams {
  cols4: u32,
  nBlocks: u32,
  maxBase: u32,       // vec4 index of the max partials (OP 2)
  dstMaxBase: u32,    // vec4 index of the running max in `dst` (OP 2)
  accumulate: u32,    // 1: combine with the value already in `dst`
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

struct GroupParams {
  rows: u32,          // rows of this chunk
  cols: u32,
  globalRow: u32,     // global index of this chunk's first row
  groupRows: u32,
  groupCols: u32,
  nGroupCols: u32,
  firstGroupRow: u32, // first group row intersecting this chunk
  nWork: u32,         // groups of this dispatch
}

struct ColumnScaleParams {
  count4: u32,        // vec4s of this chunk
  cols4: u32,
  sBase4: u32,        // vec4 offset of the scale vector in `colScales`
  divide: u32,        // 0: w·s, 1: w / s
}

struct RowScaleParams {
  count: u32,         // elements of this chunk
  cols: u32,
  rowBase: u32,       // global index of this chunk's first row
  firstRow: u32,      // first scaled row (a fused smooth layer scales only its last rows)
  nScaled: u32,
  sBase: u32,         // offset of the scale vector in `rowScales`
  divide: u32,
  _p0: u32,
}

struct SmoothParams {
  cols: u32,
  alpha: f32,
  logEqualization: u32,
  _p0: u32,
}

@group(0) @binding(0) var<uniform> pp: PartialParams;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> part: array<vec4<f32>>;
#if NORM
@group(0) @binding(3) var<storage, read> gmax: array<f32>;
#endif

@group(0) @binding(4) var<uniform> fp: FoldParams;
@group(0) @binding(5) var<storage, read> partials: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> dst: array<vec4<f32>>;

@group(0) @binding(7) var<uniform> gp: GroupParams;
@group(0) @binding(8) var<storage, read> gw: array<f32>;
@group(0) @binding(9) var<storage, read_write> groupMax: array<f32>;

@group(0) @binding(10) var<uniform> cp: ColumnScaleParams;
@group(0) @binding(11) var<storage, read_write> colWeight: array<vec4<f32>>;
@group(0) @binding(12) var<storage, read> colScales: array<vec4<f32>>;

@group(0) @binding(13) var<uniform> rp: RowScaleParams;
@group(0) @binding(14) var<storage, read_write> rowWeight: array<f32>;
@group(0) @binding(15) var<storage, read> rowScales: array<f32>;

@group(0) @binding(16) var<uniform> sp: SmoothParams;
@group(0) @binding(17) var<storage, read> minMax: array<f32>;
@group(0) @binding(18) var<storage, read> weightMax: array<f32>;
@group(0) @binding(19) var<storage, read_write> smoothScales: array<f32>;

override OP: u32 = 0u;
// vec4 columns per workgroup of columnPartials; WG / TX rows are folded in parallel (both powers of two).
override TX: u32 = 16u;
const WG: u32 = 256u;

var<workgroup> redA: array<vec4<f32>, 256>;
var<workgroup> redB: array<vec4<f32>, 256>;
var<workgroup> redS: array<f32, 256>;

fn posInf() -> f32 { let bits = 0x7f800000u; return bitcast<f32>(bits); }
fn negInf() -> f32 { let bits = 0xff800000u; return bitcast<f32>(bits); }

#include "lib/grid.wgsl"

fn identityA() -> vec4<f32> {
  if (OP == 2u) { return vec4<f32>(posInf()); }
  return vec4<f32>(0.0);
}

fn combineA(u: vec4<f32>, v: vec4<f32>) -> vec4<f32> {
  if (OP == 0u || OP == 3u) { return u + v; }
  if (OP == 2u) { return min(u, v); }
  return max(u, v);
}

// The value a column statistic folds for element row r (chunk-local), vec4 column c4.
fn lift(v: vec4<f32>, r: u32, c4: u32) -> vec4<f32> {
  if (OP == 2u) { return v; }
  let a = abs(v);
#if NORM
  if (OP == 3u) {
    let g0 = ((pp.globalRow + r) / pp.groupRows) * pp.nGroupCols;
    let c = 4u * c4;
    let d = vec4<f32>(gmax[g0 + c / pp.groupCols], gmax[g0 + (c + 1u) / pp.groupCols],
                      gmax[g0 + (c + 2u) / pp.groupCols], gmax[g0 + (c + 3u) / pp.groupCols]);
    return a / (d + vec4<f32>(1e-6));
  }
#endif
  return a;
}

@compute @workgroup_size(256)
fn columnPartials(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
  let work = linearWorkgroup(wid, nwg);
  // Uniform per workgroup, so the barriers below stay in uniform control flow.
  if (work >= pp.nWork) { return; }
  let lanes = WG / TX;
  let tile = work % pp.colTiles;
  let rowBlock = work / pp.colTiles;
  let tx = li % TX;
  let ty = li / TX;
  let c4 = tile * TX + tx;
  let r0 = rowBlock * pp.rowsPerBlock;
  let r1 = min(r0 + pp.rowsPerBlock, pp.rows);
  var a = identityA();
  var b = vec4<f32>(negInf());
  if (c4 < pp.cols4) {
    for (var r = r0 + ty; r < r1; r += lanes) {
      let v = lift(x[r * pp.cols4 + c4], r, c4);
      a = combineA(a, v);
      b = max(b, v);
    }
  }
  redA[li] = a;
  redB[li] = b;
  workgroupBarrier();
  for (var s = lanes / 2u; s > 0u; s >>= 1u) {
    if (ty < s) {
      redA[li] = combineA(redA[li], redA[li + s * TX]);
      redB[li] = max(redB[li], redB[li + s * TX]);
    }
    workgroupBarrier();
  }
  if (ty == 0u && c4 < pp.cols4) {
    let at = (pp.blockBase + rowBlock) * pp.cols4 + c4;
    part[at] = redA[tx];
    if (OP == 2u) { part[pp.maxBase + at] = redB[tx]; }
  }
}

@compute @workgroup_size(256)
fn columnFold(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
  let c4 = linearWorkgroup(wid, nwg) * WG + li;
  if (c4 >= fp.cols4) { return; }
  var a = partials[c4];
  var b = vec4<f32>(negInf());
  if (OP == 2u) { b = partials[fp.maxBase + c4]; }
  for (var k = 1u; k < fp.nBlocks; k++) {
    a = combineA(a, partials[k * fp.cols4 + c4]);
    if (OP == 2u) { b = max(b, partials[fp.maxBase + k * fp.cols4 + c4]); }
  }
  if (fp.accumulate != 0u) {
    a = combineA(dst[c4], a);
    if (OP == 2u) { b = max(dst[fp.dstMaxBase + c4], b); }
  }
  dst[c4] = a;
  if (OP == 2u) { dst[fp.dstMaxBase + c4] = b; }
}

// max |w| of every quantization group (rectangles of groupRows × groupCols)
// that meets this chunk, combined by max with what `groupMax` holds (cleared
// to 0 first), so a group cut by a chunk boundary still gets one maximum.
@compute @workgroup_size(256)
fn groupAbsMax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  let work = linearWorkgroup(wid, nwg);
  if (work >= gp.nWork) { return; }
  let gr = gp.firstGroupRow + work / gp.nGroupCols;
  let gc = work % gp.nGroupCols;
  let rStart = max(gr * gp.groupRows, gp.globalRow);
  let rEnd = min((gr + 1u) * gp.groupRows, gp.globalRow + gp.rows);
  let c0 = gc * gp.groupCols;
  let nc = min(gp.groupCols, gp.cols - c0);
  let n = (rEnd - rStart) * nc;
  var m = 0.0;
  for (var i = li; i < n; i += WG) {
    let r = rStart - gp.globalRow + i / nc;
    m = max(m, abs(gw[r * gp.cols + c0 + i % nc]));
  }
  redS[li] = m;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { redS[li] = max(redS[li], redS[li + s]); }
    workgroupBarrier();
  }
  if (li == 0u) {
    let g = gr * gp.nGroupCols + gc;
    groupMax[g] = max(groupMax[g], redS[0]);
  }
}

// w[:, j] ·= s_j (or /= s_j), in place, one vec4 per invocation.
@compute @workgroup_size(256)
fn scaleColumns(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
  let i = linearWorkgroup(wid, nwg) * WG + li;
  if (i >= cp.count4) { return; }
  let s = colScales[cp.sBase4 + i % cp.cols4];
  if (cp.divide != 0u) { colWeight[i] = colWeight[i] / s; } else { colWeight[i] = colWeight[i] * s; }
}

// w[r, :] /= s_r (or ·= s_r) for the rows firstRow … firstRow + nScaled − 1, in place.
// A 1-D norm weight or bias is a column (cols = 1).
@compute @workgroup_size(256)
fn scaleRows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let e = linearWorkgroup(wid, nwg) * WG + li;
  if (e >= rp.count) { return; }
  let r = rp.rowBase + e / rp.cols;
  if (r < rp.firstRow || r >= rp.firstRow + rp.nScaled) { return; }
  let s = rowScales[rp.sBase + r - rp.firstRow];
  if (rp.divide != 0u) { rowWeight[e] = rowWeight[e] / s; } else { rowWeight[e] = rowWeight[e] * s; }
}

// x^y for x ≥ 0 with torch's values at the edges: x^0 = 1 (also 0^0), x^1 = x, 0^y = 0.
fn powNonNegative(v: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  if (y == 1.0) { return v; }
  if (v == 0.0) { return 0.0; }
  return exp2(y * log2(v));
}

// SmoothQuant scales from the activation range (max − min) and the balance
// weights' column absmax: act^α / (2·wmax)^(1−α), act where the weight column
// is zero; log equalization: act / log2(2 + act). Floor 1e-5.
@compute @workgroup_size(256)
fn smoothQuantScales(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) li: u32) {
  let c = linearWorkgroup(wid, nwg) * WG + li;
  if (c >= sp.cols) { return; }
  let act = minMax[sp.cols + c] - minMax[c];
  var s: f32;
  if (sp.logEqualization != 0u) {
    s = act / log2(2.0 + act);
  } else {
    let w = 2.0 * weightMax[c];
    if (w > 0.0) { s = powNonNegative(act, sp.alpha) / powNonNegative(w, 1.0 - sp.alpha); } else { s = act; }
  }
  smoothScales[c] = max(s, 1e-5);
}
