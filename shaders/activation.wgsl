// Elementwise pieces of the decoder layer, vec4 per invocation:
//   siluMul:  out = silu(gate) · up        (the SwiGLU MLP's activation)
//   add:      out = a + b                  (the residual add closing a layer)
// Lengths are multiples of 4 (hidden and intermediate sizes are); `count`
// counts vec4s and bounds the folded grid.

struct Params {
  count: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
#if SILU_MUL
@group(0) @binding(1) var<storage, read> gate: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> up: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
#else
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
#endif

override WG: u32 = 256u;

fn linearIndex(wid: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 {
  return (wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y) * WG + li;
}

#if SILU_MUL
// silu(x) = x · sigmoid(x) = x / (1 + e^-x); for x ≪ 0, e^-x overflows to inf
// and the quotient is −0, the correct limit.
@compute @workgroup_size(WG)
fn siluMul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
  let i = linearIndex(wid, nwg, li);
  if (i >= p.count) { return; }
  let g = gate[i];
  out[i] = g / (vec4<f32>(1.0) + exp(-g)) * up[i];
}
#else
@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) li: u32) {
  let i = linearIndex(wid, nwg, li);
  if (i >= p.count) { return; }
  out[i] = a[i] + b[i];
}
#endif
