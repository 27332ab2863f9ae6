// Token embedding lookup: out[r, :] = table[ids[r], :].
// The table may be split into row chunks (a 128k × 4096 f32 embedding is
// 2 GiB, far past one storage binding); each dispatch binds one chunk holding
// vocabulary rows [rowStart, rowStart + chunkRows) and copies only the tokens
// whose ids fall in it. One invocation per output vec4; hidden size % 4 == 0.

struct Params {
  count: u32,      // tokens · h4
  h4: u32,         // vec4s per row
  rowStart: u32,
  chunkRows: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn gatherRows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y) * WG + li;
  if (i >= p.count) { return; }
  let token = i / p.h4;
  let id = ids[token];
  if (id < p.rowStart || id >= p.rowStart + p.chunkRows) { return; }
  out[i] = table[(id - p.rowStart) * p.h4 + i % p.h4];
}
