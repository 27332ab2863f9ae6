// f32 matrix multiply C[M,N] = A[M,K] · op(B) (+ bias[N]).
//   matmulNN: B stored [K,N] (row-major), op(B) = B.
//   matmulNT: B stored [N,K] (a Linear weight), op(B) = Bᵀ.
// Register blocking: each invocation owns a 4×4 block of C (ROWS rows × one
// vec4 of columns), so every loaded vec4 of A or B feeds 4 FMAs per lane
// instead of 1. No workgroup memory: on CPU emulators barriers cost more than
// they save (webgpu.md §C.1); the tiled variant below is for real GPUs.
// Requirements checked by the wrapper: K % 4 == 0 and N % 4 == 0.
// B may be one row-chunk of a larger tensor: columns [nStart, nStart+nCount)
// of C come from this chunk, C's row stride stays N.

#if SUBGROUPS
enable subgroups;
#endif

struct Params {
  M: u32,
  N: u32,        // columns of C (row stride of C)
  K: u32,
  nStart: u32,   // first column of C this dispatch writes
  nCount: u32,   // columns this dispatch writes (multiple of 4)
  tilesX: u32,   // workgroups along the column axis (grid is folded)
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;
#if BIAS
@group(0) @binding(4) var<storage, read> bias: array<vec4<f32>>;
#endif

const ROWS: u32 = 4u;
override WGX: u32 = 8u;
override WGY: u32 = 8u;

// (column tile, row tile) of this workgroup in the folded grid.
fn workgroupTile(wid: vec3<u32>, nwg: vec3<u32>) -> vec2<u32> {
  let linear = wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y;
  return vec2<u32>(linear % p.tilesX, linear / p.tilesX);
}

fn tileOrigin(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> vec2<u32> {
  let t = workgroupTile(wid, nwg);
  // column group (vec4 index within this dispatch) and first row
  return vec2<u32>(t.x * WGX + lid.x, (t.y * WGY + lid.y) * ROWS);
}

fn store(row: u32, col4: u32, v: vec4<f32>) {
  var out = v;
#if BIAS
  out = out + bias[(p.nStart / 4u) + col4];
#endif
  c[(row * p.N + p.nStart) / 4u + col4] = out;
}

// The ROWS rows of an invocation's block that lie inside C.
fn storeRows(row0: u32, col4: u32, acc: ptr<function, array<vec4<f32>, 4>>) {
  for (var i = 0u; i < ROWS; i++) {
    if (row0 + i < p.M) { store(row0 + i, col4, (*acc)[i]); }
  }
}

@compute @workgroup_size(WGX, WGY, 1)
fn matmulNN(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = tileOrigin(wid, nwg, lid);
  let col4 = o.x;
  let row0 = o.y;
  if (col4 * 4u >= p.nCount || row0 >= p.M) { return; }
  let K4 = p.K / 4u;
  let N4 = p.nCount / 4u; // row stride of this B chunk in vec4s
  var acc: array<vec4<f32>, 4>;
  // Rows past M read row M-1 (in bounds) and are not stored.
  var ar: array<u32, 4>;
  for (var i = 0u; i < ROWS; i++) { ar[i] = min(row0 + i, p.M - 1u) * K4; }
  for (var k4 = 0u; k4 < K4; k4++) {
    let kb = k4 * 4u * N4 + col4;
    let b0 = b[kb];
    let b1 = b[kb + N4];
    let b2 = b[kb + 2u * N4];
    let b3 = b[kb + 3u * N4];
    for (var i = 0u; i < ROWS; i++) {
      let av = a[ar[i] + k4];
      acc[i] = fma(vec4<f32>(av.x), b0, acc[i]);
      acc[i] = fma(vec4<f32>(av.y), b1, acc[i]);
      acc[i] = fma(vec4<f32>(av.z), b2, acc[i]);
      acc[i] = fma(vec4<f32>(av.w), b3, acc[i]);
    }
  }
  storeRows(row0, col4, &acc);
}

@compute @workgroup_size(WGX, WGY, 1)
fn matmulNT(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = tileOrigin(wid, nwg, lid);
  let col4 = o.x;
  let row0 = o.y;
  if (col4 * 4u >= p.nCount || row0 >= p.M) { return; }
  let K4 = p.K / 4u;
  var acc: array<vec4<f32>, 4>;
  var ar: array<u32, 4>;
  for (var i = 0u; i < ROWS; i++) { ar[i] = min(row0 + i, p.M - 1u) * K4; }
  // B rows (output columns) of this invocation, relative to the chunk.
  let br = col4 * 4u * K4;
  for (var k4 = 0u; k4 < K4; k4++) {
    let b0 = b[br + k4];
    let b1 = b[br + K4 + k4];
    let b2 = b[br + 2u * K4 + k4];
    let b3 = b[br + 3u * K4 + k4];
    for (var i = 0u; i < ROWS; i++) {
      let av = a[ar[i] + k4];
      acc[i] = acc[i] + vec4<f32>(dot(av, b0), dot(av, b1), dot(av, b2), dot(av, b3));
    }
  }
  storeRows(row0, col4, &acc);
}


#if SUBGROUPS
// Subgroup-broadcast variant for adapters whose subgroups are SIMD lanes of a
// CPU (lavapipe, SwiftShader) and for small-subgroup GPUs: a workgroup is one
// subgroup of SG lanes; lane l owns one vec4 of columns for SG rows. Each
// lane loads only its own row of A and the lanes exchange those values with
// subgroupBroadcast, so A costs one load per lane instead of SG, and each B
// load feeds SG rows. Requires subgroup_size == SG (checked by the wrapper).
override SG: u32 = 8u;

fn bcast(v: vec4<f32>, r: u32) -> vec4<f32> {
  // subgroupBroadcast needs a const lane id: unrolled by the caller's switch.
  switch r {
    case 0u: { return subgroupBroadcast(v, 0u); }
    case 1u: { return subgroupBroadcast(v, 1u); }
    case 2u: { return subgroupBroadcast(v, 2u); }
    case 3u: { return subgroupBroadcast(v, 3u); }
    case 4u: { return subgroupBroadcast(v, 4u); }
    case 5u: { return subgroupBroadcast(v, 5u); }
    case 6u: { return subgroupBroadcast(v, 6u); }
    default: { return subgroupBroadcast(v, 7u); }
  }
}

// The SG rows of a lane's column that lie inside C (none for a lane past the
// last column, which only fed the broadcasts).
fn storeLaneRows(row0: u32, col4: u32, N4: u32, acc: ptr<function, array<vec4<f32>, 8>>) {
  if (col4 >= N4) { return; }
  for (var r = 0u; r < SG; r++) {
    if (row0 + r < p.M) { store(row0 + r, col4, (*acc)[r]); }
  }
}

@compute @workgroup_size(SG)
fn matmulNNBroadcast(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(subgroup_invocation_id) lane: u32) {
  let t = workgroupTile(wid, nwg);
  let tx = t.x;
  let ty = t.y;
  let rowTiles = (p.M + SG - 1u) / SG;
  // The whole subgroup leaves together: broadcasts need every lane.
  if (ty >= rowTiles) { return; }
  let K4 = p.K / 4u;
  let N4 = p.nCount / 4u;
  let col4 = tx * SG + lane;
  let colc = min(col4, N4 - 1u);
  let row0 = ty * SG;
  let arow = min(row0 + lane, p.M - 1u) * K4;
  var acc: array<vec4<f32>, 8>;
  for (var k4 = 0u; k4 < K4; k4++) {
    let av = a[arow + k4];
    let kb = k4 * 4u * N4 + colc;
    let b0 = b[kb];
    let b1 = b[kb + N4];
    let b2 = b[kb + 2u * N4];
    let b3 = b[kb + 3u * N4];
    for (var r = 0u; r < SG; r++) {
      let ar = bcast(av, r);
      acc[r] = fma(vec4<f32>(ar.x), b0, acc[r]);
      acc[r] = fma(vec4<f32>(ar.y), b1, acc[r]);
      acc[r] = fma(vec4<f32>(ar.z), b2, acc[r]);
      acc[r] = fma(vec4<f32>(ar.w), b3, acc[r]);
    }
  }
  storeLaneRows(row0, col4, N4, &acc);
}

// Same scheme with B stored [N,K]: lane l owns output columns 4l..4l+3, i.e.
// four rows of B, and accumulates dot products along K.
@compute @workgroup_size(SG)
fn matmulNTBroadcast(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(subgroup_invocation_id) lane: u32) {
  let t = workgroupTile(wid, nwg);
  let tx = t.x;
  let ty = t.y;
  let rowTiles = (p.M + SG - 1u) / SG;
  if (ty >= rowTiles) { return; }
  let K4 = p.K / 4u;
  let N4 = p.nCount / 4u;
  let col4 = tx * SG + lane;
  let br = min(col4, N4 - 1u) * 4u * K4;
  let row0 = ty * SG;
  let arow = min(row0 + lane, p.M - 1u) * K4;
  var acc: array<vec4<f32>, 8>;
  for (var k4 = 0u; k4 < K4; k4++) {
    let av = a[arow + k4];
    let b0 = b[br + k4];
    let b1 = b[br + K4 + k4];
    let b2 = b[br + 2u * K4 + k4];
    let b3 = b[br + 3u * K4 + k4];
    for (var r = 0u; r < SG; r++) {
      let ar = bcast(av, r);
      acc[r] = acc[r] + vec4<f32>(dot(ar, b0), dot(ar, b1), dot(ar, b2), dot(ar, b3));
    }
  }
  storeLaneRows(row0, col4, N4, &acc);
}
#endif
