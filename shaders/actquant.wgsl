// Input-activation fake quantization: what compressed-tensors'
// forward_quantize does to a Linear's input x [tokens, features] before the
// matmul (compressed-tensors.md §4.2–§4.4; presets llm-compressor.md §2).
// The per-value numerics are the weight quantizer's (lib/fakequant.wgsl),
// so activations and weights round identically, ties and all.
//
// x is viewed as a flat run of scale groups of `groupUnits` load units
// (vec4 when the group length is a multiple of 4, else scalars), each group
// contiguous in memory:
//   token        one group per row (dynamic)
//   group        groups of group_size along each row (dynamic, FP8_BLOCK, MX)
//   tensor_group groups of 16 (NVFP4: dynamic local scales, static global scale)
//   tensor       one group; dynamic: min/max from `observeTensor` first;
//                static: the stored scale / zero point.
// `lanes` consecutive invocations share a group (coalesced loads, one
// workgroup-atomic min/max per group), `slots` groups per workgroup; a
// group longer than `lanes` units is walked in strides. x is bound as raw
// u32 bits (subnormals survive devices that flush them) and y is written as
// bits, so a NaN can be stored where torch produces one.
//
// NaN and ±Inf: torch's amin/amax propagate them into the scale, after which
// every element of the group is NaN (x / inf = 0, 0 · inf = NaN); a dynamic
// group holding one is written as all NaN. With a static scale only a NaN
// element itself is NaN (±Inf clamps to the end of the range, as torch.clamp).

struct Params {
  // lib/fakequant.wgsl's numerics.
  qmin: f32,
  qmax: f32,
  halfRange: f32,
  fullRange: f32,
  invHalfRange: f32,
  invFullRange: f32,
  mxOffset: u32,
  eps: f32,
  epsSearch: f32,
  // Layout of this dispatch.
  groupUnits: u32,   // load units per scale group (observeTensor: per workgroup block)
  nGroups: u32,      // groups (blocks) in this dispatch
  nUnits: u32,       // load units in this dispatch
  lanes: u32,        // invocations per group
  slots: u32,        // groups per workgroup
  nWorkgroups: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
#if VEC4
@group(0) @binding(1) var<storage, read> x: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<u32>>;
#else
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<u32>;
#endif
// qp: [0] static scale (f32 bits), [1] static zero point (i32), [2] global
// scale (f32 bits), [3] ~min key, [4] max key of the whole tensor (MODE 2;
// the min inverted so that a zero-cleared buffer is the identity of atomicMax).
@group(0) @binding(3) var<storage, read> qp: array<u32>;
// The same words, written by observeTensor.
@group(0) @binding(4) var<storage, read_write> stats: array<atomic<u32>>;

override WG: u32 = 256u;
// 0: each group's min/max observed here (token, group, tensor_group);
// 1: the static scale and zero point from qp (tensor, static);
// 2: the tensor's min/max keys from qp (tensor, dynamic).
override MODE: u32 = 0u;

const WG_MAX: u32 = 256u;
const QP_SCALE: u32 = 0u;
const QP_ZERO_POINT: u32 = 1u;
const QP_GLOBAL_SCALE: u32 = 2u;
const QP_MIN_KEY_INV: u32 = 3u;
const QP_MAX_KEY: u32 = 4u;
const NAN_BITS: u32 = 0x7fc00000u;

#if VEC4
const UNIT: u32 = 4u;
#else
const UNIT: u32 = 1u;
#endif

// Per-slot minima are stored inverted so that zero-initialised workgroup
// memory is the identity of atomicMax for both.
var<workgroup> slotMinInv: array<atomic<u32>, WG_MAX>;
var<workgroup> slotMax: array<atomic<u32>, WG_MAX>;

#include "lib/grid.wgsl"

#include "lib/fakequant.wgsl"

fn loadUnit(u: u32) -> vec4<u32> {
#if VEC4
  return x[u];
#else
  return vec4<u32>(x[u], 0u, 0u, 0u);
#endif
}

fn storeUnit(u: u32, v: vec4<u32>) {
#if VEC4
  y[u] = v;
#else
  y[u] = v.x;
#endif
}

fn globalScale() -> f32 {
  if (SCALE_KIND != 1u) { return 1.0; }
  return bitcast<f32>(qp[QP_GLOBAL_SCALE]);
}

fn staticParams() -> GroupParams {
  var gp: GroupParams;
  gp.scale = bitcast<f32>(qp[QP_SCALE]);
  gp.sEff = gp.scale;
  gp.zp = select(f32(bitcast<i32>(qp[QP_ZERO_POINT])), 0.0, SYMMETRIC);
  return withReciprocal(gp);
}

fn hasNonFinite(minKey: u32, maxKey: u32) -> bool {
  return minKey <= KEY_NEG_INF || maxKey >= KEY_POS_INF;
}

// _quantize_dequantize of one element, as f32 bits.
fn fakeBits(xb: u32, gp: GroupParams, bad: bool) -> u32 {
  if (bad || (xb & 0x7fffffffu) > 0x7f800000u) { return NAN_BITS; }
  return bitcast<u32>(dequantValue(quantizeValue(xb, gp), gp));
}

@compute @workgroup_size(WG)
fn fakeQuantize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
  let wgId = linearWorkgroup(wid, nwg);
  let slot = li / p.lanes;
  let lane = li % p.lanes;
  let g = wgId * p.slots + slot;
  let live = wgId < p.nWorkgroups && slot < p.slots && g < p.nGroups;
  let base = g * p.groupUnits;
  var gp: GroupParams;
  var bad = false;
  if (MODE == 0u) {
    var mn = 0xffffffffu;
    var mx = 0u;
    if (live) {
      for (var u = lane; u < p.groupUnits; u = u + p.lanes) {
        let v = loadUnit(base + u);
        for (var k = 0u; k < UNIT; k = k + 1u) {
          let key = orderedKey(v[k]);
          mn = min(mn, key);
          mx = max(mx, key);
        }
      }
      atomicMax(&slotMinInv[slot], ~mn);
      atomicMax(&slotMax[slot], mx);
    }
    workgroupBarrier();
    let minKey = ~atomicLoad(&slotMinInv[slot]);
    let maxKey = atomicLoad(&slotMax[slot]);
    bad = hasNonFinite(minKey, maxKey);
    gp = qparamsFromKeys(minKey, maxKey, globalScale(), false);
  } else if (MODE == 1u) {
    gp = staticParams();
  } else {
    let minKey = ~qp[QP_MIN_KEY_INV];
    let maxKey = qp[QP_MAX_KEY];
    bad = hasNonFinite(minKey, maxKey);
    gp = qparamsFromKeys(minKey, maxKey, 1.0, false);
  }
  if (!live) { return; }
  for (var u = lane; u < p.groupUnits; u = u + p.lanes) {
    let v = loadUnit(base + u);
    var o = vec4<u32>(0u, 0u, 0u, 0u);
    for (var k = 0u; k < UNIT; k = k + 1u) { o[k] = fakeBits(v[k], gp, bad); }
    storeUnit(base + u, o);
  }
}

// Min/max keys of x over blocks of `groupUnits` units per workgroup,
// folded with atomicMax into stats[QP_MIN_KEY_INV] (inverted) and
// stats[QP_MAX_KEY] across workgroups and dispatches (both start at 0).
@compute @workgroup_size(WG)
fn observeTensor(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
  let wgId = linearWorkgroup(wid, nwg);
  var mn = 0xffffffffu;
  var mx = 0u;
  if (wgId < p.nWorkgroups) {
    let start = wgId * p.groupUnits;
    let end = min(start + p.groupUnits, p.nUnits);
    for (var u = start + li; u < end; u = u + WG) {
      let v = loadUnit(u);
      for (var k = 0u; k < UNIT; k = k + 1u) {
        let key = orderedKey(v[k]);
        mn = min(mn, key);
        mx = max(mx, key);
      }
    }
  }
  atomicMax(&slotMinInv[0], ~mn);
  atomicMax(&slotMax[0], mx);
  workgroupBarrier();
  if (li == 0u && wgId < p.nWorkgroups) {
    atomicMax(&stats[QP_MIN_KEY_INV], atomicLoad(&slotMinInv[0]));
    atomicMax(&stats[QP_MAX_KEY], atomicLoad(&slotMax[0]));
  }
}
