// Elementwise kernels: dtype casts to f32, fills (test poisoning), vec4 copy.
// One invocation per u32 word (casts) or per vec4 (copy). The linear
// workgroup index is rebuilt from a folded grid (see src/gpu/dispatch.ts), and
// `count` bounds the work because the last workgroup may run past the end.

struct Params {
  count: u32,   // words (casts, fill) or vec4s (copy) to process
  n: u32,       // elements of the output (casts) or ignored
  value: u32,   // fill value as raw bits
  srcOffset: u32, // first source word (casts): chunks can start mid-buffer
  dstOffset: u32, // first destination element (casts)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read_write> words: array<u32>;
@group(0) @binding(4) var<storage, read> src4: array<vec4<u32>>;
@group(0) @binding(5) var<storage, read_write> dst4: array<vec4<u32>>;

override WG: u32 = 256u;

#include "lib/grid.wgsl"

// f16 pairs (little-endian, element 2i in the low half) to f32. unpack2x16float
// is core WGSL, so this needs no shader-f16.
@compute @workgroup_size(WG)
fn castF16ToF32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = linearInvocation(gid, nwg, WG);
  if (w >= p.count) { return; }
  let v = unpack2x16float(src[p.srcOffset + w]);
  let e = 2u * w;
  dst[p.dstOffset + e] = v.x;
  if (e + 1u < p.n) { dst[p.dstOffset + e + 1u] = v.y; }
}

// bf16 is the top half of an f32: shifting the bits back up is exact.
@compute @workgroup_size(WG)
fn castBf16ToF32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = linearInvocation(gid, nwg, WG);
  if (w >= p.count) { return; }
  let bits = src[p.srcOffset + w];
  let e = 2u * w;
  dst[p.dstOffset + e] = bitcast<f32>(bits << 16u);
  if (e + 1u < p.n) { dst[p.dstOffset + e + 1u] = bitcast<f32>(bits & 0xffff0000u); }
}

// Writes `value` into every word: used to poison outputs before a test run.
@compute @workgroup_size(WG)
fn fillWords(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = linearInvocation(gid, nwg, WG);
  if (w >= p.count) { return; }
  words[w] = p.value;
}

// Plain vec4 copy: the bandwidth ceiling the benchmark compares kernels against.
@compute @workgroup_size(WG)
fn copyVec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = linearInvocation(gid, nwg, WG);
  if (w >= p.count) { return; }
  dst4[w] = src4[w];
}
