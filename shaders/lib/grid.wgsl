// Linear id of a workgroup. The wrappers fold a workgroup count above 65535
// into a 2-D or 3-D grid; a kernel rebuilds the id with this and bounds it
// with a uniform count. No bindings, no overrides.

fn linearWorkgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y;
}
