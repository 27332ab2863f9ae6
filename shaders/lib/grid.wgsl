// Linear ids in a folded grid. The wrappers fold a workgroup count above
// 65535 into a 2-D or 3-D grid; a kernel rebuilds its id with these and
// bounds it with a uniform count. No bindings, no overrides.

// Linear id of a workgroup.
fn linearWorkgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y;
}

// Linear id of an invocation of a 1-D workgroup of `wgSize` in the folded
// grid, built on global_invocation_id: a CPU adapter (llvmpipe) then sees
// consecutive lanes addressing consecutive words and loads and stores whole
// vectors, where linearWorkgroup(wid, nwg) · wgSize + local_invocation_index
// costs it per-lane gathers (2.3× slower for the vec4 copy on lavapipe).
fn linearInvocation(gid: vec3<u32>, nwg: vec3<u32>, wgSize: u32) -> u32 {
  return gid.x + (gid.y + gid.z * nwg.y) * nwg.x * wgSize;
}
