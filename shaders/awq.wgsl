// AWQ grid search (llm-compressor.md §6.5): the error of the parent module's
// output under each candidate scaling.
//
// sumSquaredDiff  Σ (a − b)² of a block of vec4s per workgroup → one partial;
// countNonFinite  the number of inf/NaN elements, the same way;
// foldSum         one workgroup sums the partials in a fixed order.
// Every sum is reduced in the same order on every run, so the search is
// deterministic (the reference implementation's is not).

struct DiffParams {
  count4: u32,     // vec4s in each of a and b
  perGroup4: u32,  // vec4s per workgroup
  partBase: u32,   // index of this dispatch's first partial
  nWork: u32,
}

struct FoldSumParams {
  n: u32,
  outIndex: u32,
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<uniform> dp: DiffParams;
@group(0) @binding(1) var<storage, read> ya: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> yb: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> sq: array<f32>;

@group(0) @binding(4) var<uniform> fs: FoldSumParams;
@group(0) @binding(5) var<storage, read> terms: array<f32>;
@group(0) @binding(6) var<storage, read_write> total: array<f32>;

const WG: u32 = 256u;

var<workgroup> red: array<f32, 256>;

#include "lib/grid.wgsl"

// Sum of every invocation's v, in a fixed tree order; called by the whole
// workgroup in uniform control flow. The result is read by invocation 0.
fn workgroupSum(li: u32, v: f32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (li < k) { red[li] = red[li] + red[li + k]; }
    workgroupBarrier();
  }
  return red[0];
}

@compute @workgroup_size(256)
fn sumSquaredDiff(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
  let work = linearWorkgroup(wid, nwg);
  if (work >= dp.nWork) { return; }
  let start = work * dp.perGroup4;
  let end = min(start + dp.perGroup4, dp.count4);
  var acc = 0.0;
  for (var i = start + li; i < end; i += WG) {
    let d = ya[i] - yb[i];
    acc += dot(d, d);
  }
  let sum = workgroupSum(li, acc);
  if (li == 0u) { sq[dp.partBase + work] = sum; }
}

// Number of inf/NaN elements of a block of vec4s per workgroup → one partial
// (an output with any is not a usable reference for the search).
@compute @workgroup_size(256)
fn countNonFinite(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
  let work = linearWorkgroup(wid, nwg);
  if (work >= dp.nWork) { return; }
  let start = work * dp.perGroup4;
  let end = min(start + dp.perGroup4, dp.count4);
  var n = 0.0;
  for (var i = start + li; i < end; i += WG) {
    let e = bitcast<vec4<u32>>(ya[i]) & vec4<u32>(0x7f800000u);
    n += dot(select(vec4<f32>(0.0), vec4<f32>(1.0), e == vec4<u32>(0x7f800000u)), vec4<f32>(1.0));
  }
  let sum = workgroupSum(li, n);
  if (li == 0u) { sq[dp.partBase + work] = sum; }
}

@compute @workgroup_size(256)
fn foldSum(@builtin(local_invocation_index) li: u32) {
  var acc = 0.0;
  for (var i = li; i < fs.n; i += WG) { acc += terms[i]; }
  let sum = workgroupSum(li, acc);
  if (li == 0u) { total[fs.outIndex] = sum; }
}
