// Rotary position embedding applied in place to q and k in one dispatch,
// with transformers' rotate_half pairing: within each head of `dim` values,
// element i rotates with element i + dim/2:
//   x[i]        = x[i]·cos − x[i+half]·sin
//   x[i + half] = x[i+half]·cos + x[i]·sin
// Layout: q [rows, qHeads, dim], k [rows, kHeads, dim]; row r holds position
// posOffset + r % seqLen (rows of a batch are sequences of seqLen tokens).
// cos/sin come from a host-computed table [2][tableLen][half] (cos block,
// then sin block): WGSL's sin/cos are only accurate to 2^-11 on [-π, π], and
// RoPE angles reach thousands of radians.
// One invocation per (row, head, i < half) pair; q pairs first, then k pairs.

struct Params {
  rows: u32,
  qHeads: u32,
  kHeads: u32,
  half: u32,       // dim / 2
  seqLen: u32,
  posOffset: u32,
  tableLen: u32,   // positions in the table
  count: u32,      // rows · (qHeads + kHeads) · half
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;
@group(0) @binding(2) var<storage, read_write> k: array<f32>;
@group(0) @binding(3) var<storage, read> table: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn ropeQK(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
  let id = (wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y) * WG + li;
  if (id >= p.count) { return; }
  let qPairs = p.rows * p.qHeads * p.half;
  let isK = id >= qPairs;
  let local = select(id, id - qPairs, isK);
  let heads = select(p.qHeads, p.kHeads, isK);
  let i = local % p.half;
  let rowHead = local / p.half;          // row * heads + head
  let row = rowHead / heads;
  let pos = p.posOffset + row % p.seqLen;
  let c = table[pos * p.half + i];
  let s = table[(p.tableLen + pos) * p.half + i];
  let base = rowHead * 2u * p.half + i;
  if (isK) {
    let x1 = k[base];
    let x2 = k[base + p.half];
    k[base] = x1 * c - x2 * s;
    k[base + p.half] = x2 * c + x1 * s;
  } else {
    let x1 = q[base];
    let x2 = q[base + p.half];
    q[base] = x1 * c - x2 * s;
    q[base + p.half] = x2 * c + x1 * s;
  }
}
