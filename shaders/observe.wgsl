// Min-max observer (llm-compressor's memoryless_minmax, §1.3) for any group
// shape: per-group minimum and maximum of a weight [rows, cols], accumulated
// with atomics into `stats` as order-preserving u32 keys
// (key = bits | 0x80000000 for +, ~bits for −), so several dispatches (the
// chunks of a large weight, or the q/k/v of a fused NVFP4 set sharing one
// global scale) can add to the same groups. NaN and ±Inf land beyond the
// keys of ±Inf, which the quantize kernels turn into a NaN scale.
//
// One invocation per row segment of 32 elements (a multiple of 32 columns
// in); the group of element (R, c) is (R / groupRows) * nGroupCols + c / groupCols.
// A run of elements of one group is flushed with one atomicMin/atomicMax pair.
// When the whole weight is one group (strategy tensor, NVFP4's global scale,
// the activation observers) observeTensor does the work instead.

#if SUBGROUPS
enable subgroups;
#endif

struct Params {
  rows: u32,          // rows this dispatch covers
  cols: u32,
  inRowBase: u32,     // first covered row inside the bound weight chunk
  globalRowBase: u32, // first covered row of the whole weight
  groupRows: u32,
  groupCols: u32,
  nGroupCols: u32,
  nUnits: u32,        // segments in this dispatch (initStats: groups to reset)
  nWorkgroups: u32,
  segsPerRow: u32,
  statsOffset: u32,   // stats[statsOffset + 2g] = min key, [.. + 1] = max key
}

@group(0) @binding(0) var<uniform> p: Params;
#if VEC4
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;
#else
@group(0) @binding(1) var<storage, read> w: array<u32>;
#endif
@group(0) @binding(2) var<storage, read_write> stats: array<atomic<u32>>;

override WG: u32 = 256u;

#include "lib/grid.wgsl"

fn orderedKey(b: u32) -> u32 {
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn flush(g: u32, mn: u32, mx: u32) {
  atomicMin(&stats[p.statsOffset + 2u * g], mn);
  atomicMax(&stats[p.statsOffset + 2u * g + 1u], mx);
}

@compute @workgroup_size(WG)
fn observeMinMax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
  let wgId = linearWorkgroup(wid, nwg);
  let t = wgId * WG + li;
  var mn = 0xffffffffu;
  var mx = 0u;
  if (wgId < p.nWorkgroups && t < p.nUnits) {
    let r = t / p.segsPerRow;
    let c0 = (t % p.segsPerRow) * 32u;
    let n = min(32u, p.cols - c0);
    let R = p.globalRowBase + r;
    let base = (p.inRowBase + r) * p.cols + c0;
    var v: array<u32, 32>;
#if VEC4
    for (var j = 0u; j < 8u; j = j + 1u) {
      if (4u * j < n) {
        let q = w[(base >> 2u) + j];
        v[4u * j] = q.x;
        v[4u * j + 1u] = q.y;
        v[4u * j + 2u] = q.z;
        v[4u * j + 3u] = q.w;
      }
    }
#else
    for (var k = 0u; k < n; k = k + 1u) { v[k] = w[base + k]; }
#endif
    let gRow = (R / p.groupRows) * p.nGroupCols;
    var cur = gRow + c0 / p.groupCols;
    for (var k = 0u; k < n; k = k + 1u) {
      let g = gRow + (c0 + k) / p.groupCols;
      if (g != cur) {
        flush(cur, mn, mx);
        cur = g;
        mn = 0xffffffffu;
        mx = 0u;
      }
      let key = orderedKey(v[k]);
      mn = min(mn, key);
      mx = max(mx, key);
    }
    flush(cur, mn, mx);
  }
}

// Segments each observeTensor invocation reads (see there).
const TENSOR_SEGS: u32 = 8u;

// Min/max keys of the whole bound chunk as one group, into group 0: the
// chunk's rows · cols elements read as a flat run of `nUnits` 32-element
// segments, TENSOR_SEGS per invocation at a stride of the dispatch's
// invocations, so consecutive invocations read consecutive segments and the
// atomics, which a CPU adapter runs for every SIMD vector whether or not a
// lane takes part, come once per TENSOR_SEGS segments. Indexed from the
// global invocation id (a CPU adapter divides per lane for
// local_invocation_index); invocations of folded workgroups past the last
// read nothing.
@compute @workgroup_size(WG)
fn observeTensor(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let inv = linearInvocation(gid, nwg, WG);
  let total = p.rows * p.cols;
  let start = p.inRowBase * p.cols;
  let stride = p.nWorkgroups * WG;
  var mn = 0xffffffffu;
  var mx = 0u;
  for (var i = 0u; i < TENSOR_SEGS; i = i + 1u) {
    let s = inv + i * stride;
    if (inv < stride && s < p.nUnits) {
      let e0 = s * 32u;
      let n = min(32u, total - e0);
#if VEC4
      // start and e0 are multiples of 4 (cols is), and so is n.
      for (var j = 0u; j < 8u; j = j + 1u) {
        if (4u * j < n) {
          let q = w[((start + e0) >> 2u) + j];
          let a = min(orderedKey(q.x), orderedKey(q.y));
          let b = min(orderedKey(q.z), orderedKey(q.w));
          let c = max(orderedKey(q.x), orderedKey(q.y));
          let d = max(orderedKey(q.z), orderedKey(q.w));
          mn = min(mn, min(a, b));
          mx = max(mx, max(c, d));
        }
      }
#else
      for (var k = 0u; k < n; k = k + 1u) {
        let key = orderedKey(w[start + e0 + k]);
        mn = min(mn, key);
        mx = max(mx, key);
      }
#endif
    }
  }
#if SUBGROUPS
  mn = subgroupMin(mn);
  mx = subgroupMax(mx);
  if (subgroupElect()) { flush(0u, mn, mx); }
#else
  flush(0u, mn, mx);
#endif
}

// Resets `nUnits` groups to the identities: min key 0xffffffff, max key 0.
@compute @workgroup_size(WG)
fn initStats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let g = linearWorkgroup(wid, nwg) * WG + li;
  if (g < p.nUnits) {
    atomicStore(&stats[p.statsOffset + 2u * g], 0xffffffffu);
    atomicStore(&stats[p.statsOffset + 2u * g + 1u], 0u);
  }
}
