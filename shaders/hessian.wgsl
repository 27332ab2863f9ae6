// Calibration statistics of a Linear's inputs and the Hessian preparation that
// GPTQ and SparseGPT run before factorising it (llm-compressor.md §6.1–6.3).
//
// Layout. X is [tokens, n] f32 (one row per token, as the forward hook gets
// it). H is [np, np] f32 with np = n rounded up to TILE: the padding rows and
// columns stay 0 off the diagonal and get 1 on it, so the padded matrix is
// diag(H, I) and factorises to diag(L, I). H may be split into row chunks
// (each a multiple of TILE rows); every entry point sees one chunk, rows
// [rowStart, rowStart + rows), and is dispatched once per chunk.
//
// Only tiles on or above the diagonal are accumulated (H is symmetric): the
// factorisation in cholesky.wgsl reads the upper triangle only, so the lower
// tiles are never computed, which halves the dominant cost of calibration.

struct Params {
  n: u32,            // in_features
  np: u32,           // padded size, a multiple of TILE
  rowStart: u32,     // first H row held by the bound chunk
  rows: u32,         // H rows in the bound chunk
  tokens: u32,       // rows of X
  tileRowStart: u32, // hessianAccumulate: first tile row of this dispatch
  tileRows: u32,     // hessianAccumulate: tile rows in this dispatch
  fix: u32,          // diagonal: 1 = also repair dead and padding entries
  alpha: f32,        // H ← alpha·H + beta·XᵀX (S likewise); hessianScale: factor
  beta: f32,
  dampFrac: f32,
  srcRowStart: u32,  // gatherSymmetric: first row of the bound source chunk
  srcRows: u32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> h4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> h: array<f32>;
@group(0) @binding(4) var<storage, read_write> colSq: array<f32>;
@group(0) @binding(5) var<storage, read_write> diag: array<f32>;
@group(0) @binding(6) var<storage, read_write> dead: array<u32>;
@group(0) @binding(7) var<storage, read_write> stats: array<f32>;
@group(0) @binding(8) var<storage, read_write> perm: array<u32>;
@group(0) @binding(9) var<storage, read> src: array<f32>;

const TILE: u32 = 64u;
const KC: u32 = 16u;       // tokens per staged slice of X
override WG: u32 = 256u;   // 1-D entry points

fn linear1d(wid: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 {
  return (wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y) * WG + li;
}

// Staged X slices: [KC tokens][TILE columns] as vec4s, one per thread per slice.
var<workgroup> xa: array<vec4<f32>, 256>;
var<workgroup> xb: array<vec4<f32>, 256>;

fn loadX4(t: u32, c: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (t < p.tokens) {
    let base = t * p.n;
    for (var j = 0u; j < 4u; j++) {
      if (c + j < p.n) { v[j] = x[base + c + j]; }
    }
  }
  return v;
}

// One 64×64 tile (I, J ≥ I) of H per workgroup of 16×16 invocations, each
// owning a 4×4 block. The grid is tileRows × NT tiles; tiles below the
// diagonal leave at once (the whole workgroup together).
@compute @workgroup_size(16, 16, 1)
fn hessianAccumulate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let nt = p.np / TILE;
  let lin = wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y;
  let ti = p.tileRowStart + lin / nt;
  let tj = lin % nt;
  if (lin >= p.tileRows * nt || tj < ti) { return; }
  var acc: array<vec4<f32>, 4>;
  let lk = li / 16u;          // token within the slice this invocation stages
  let lc = (li % 16u) * 4u;   // first of its 4 columns
  for (var t0 = 0u; t0 < p.tokens; t0 += KC) {
    xa[li] = loadX4(t0 + lk, ti * TILE + lc);
    xb[li] = loadX4(t0 + lk, tj * TILE + lc);
    workgroupBarrier();
    for (var k = 0u; k < KC; k++) {
      let a = xa[k * 16u + lid.y];
      let b = xb[k * 16u + lid.x];
      acc[0] = fma(vec4<f32>(a.x), b, acc[0]);
      acc[1] = fma(vec4<f32>(a.y), b, acc[1]);
      acc[2] = fma(vec4<f32>(a.z), b, acc[2]);
      acc[3] = fma(vec4<f32>(a.w), b, acc[3]);
    }
    workgroupBarrier();
  }
  let col4 = (tj * TILE + lid.x * 4u) / 4u;
  for (var i = 0u; i < 4u; i++) {
    let row = ti * TILE + lid.y * 4u + i - p.rowStart;
    let off = row * (p.np / 4u) + col4;
    let old = h4[off];
    h4[off] = p.alpha * old + p.beta * acc[i];
  }
}

// Wanda's per-column statistic: S_j ← alpha·S_j + beta·Σ_t X[t,j]².
@compute @workgroup_size(WG)
fn columnSquareNorms(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) li: u32) {
  let j = linear1d(wid, nwg, li);
  if (j >= p.n) { return; }
  var s = 0.0;
  for (var t = 0u; t < p.tokens; t++) {
    let v = x[t * p.n + j];
    s = fma(v, v, s);
  }
  colSq[j] = p.alpha * colSq[j] + p.beta * s;
}

// H ← alpha·H over the chunk (GPTQ's division by the number of samples).
@compute @workgroup_size(WG)
fn hessianScale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
  let i = linear1d(wid, nwg, li);
  if (i >= p.rows * p.np / 4u) { return; }
  h4[i] = p.alpha * h4[i];
}

// Records diag(H) for the chunk's rows. With fix = 1 it also applies
// llm-compressor's dead-column rule (diag == 0 → H[d,d] = 1, flagged so the
// weight column is zeroed) and puts 1 on the padding diagonal.
@compute @workgroup_size(WG)
fn hessianDiagonal(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) li: u32) {
  let r = linear1d(wid, nwg, li);
  if (r >= p.rows) { return; }
  let i = p.rowStart + r;
  let at = r * p.np + i;
  var d = h[at];
  if (p.fix == 1u) {
    var isDead = 0u;
    if (i >= p.n) {
      d = 1.0;
      h[at] = 1.0;
    } else if (d == 0.0) {
      isDead = 1u;
      d = 1.0;
      h[at] = 1.0;
    }
    dead[i] = isDead;
  }
  diag[i] = d;
}

var<workgroup> red: array<f32, 256>;

// damp = dampFrac · mean(diag[0..n)) into stats[0]; one workgroup of WG = 256.
@compute @workgroup_size(WG)
fn dampening(@builtin(local_invocation_index) li: u32) {
  var s = 0.0;
  for (var i = li; i < p.n; i += WG) { s += diag[i]; }
  red[li] = s;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (li < w) { red[li] = red[li] + red[li + w]; }
    workgroupBarrier();
  }
  if (li == 0u) { stats[0] = p.dampFrac * (red[0] / f32(p.n)); }
}

// H[i,i] += damp for the chunk's real rows (dead ones included, as in torch).
@compute @workgroup_size(WG)
fn addDampening(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
  let r = linear1d(wid, nwg, li);
  let i = p.rowStart + r;
  if (r >= p.rows || i >= p.n) { return; }
  h[r * p.np + i] = h[r * p.np + i] + stats[0];
}

var<workgroup> dtile: array<f32, 256>;

// Activation order: perm[rank] = i with rank = position of diag[i] in a
// stable descending sort (ties in index order). Padding maps to itself.
// O(n²) comparisons, staged through workgroup memory; one dispatch.
@compute @workgroup_size(WG)
fn activationOrder(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) li: u32) {
  let i = linear1d(wid, nwg, li);
  let live = i < p.n;
  var di = 0.0;
  if (live) { di = diag[i]; }
  var rank = 0u;
  for (var j0 = 0u; j0 < p.n; j0 += WG) {
    let j = j0 + li;
    var v = 0.0;
    if (j < p.n) { v = diag[j]; }
    dtile[li] = v;
    workgroupBarrier();
    let m = min(WG, p.n - j0);
    for (var k = 0u; k < m; k++) {
      let dj = dtile[k];
      if (dj > di || (dj == di && j0 + k < i)) { rank += 1u; }
    }
    workgroupBarrier();
  }
  if (live) { perm[rank] = i; } else if (i < p.np) { perm[i] = i; }
}

// Hp[a, b] = H[perm[a], perm[b]] for a ≤ b, reading the source's upper
// triangle (row min, column max). One dispatch per (destination chunk,
// source chunk) pair; elements whose source row lies elsewhere are skipped.
@compute @workgroup_size(WG)
fn gatherSymmetric(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) li: u32) {
  let e = linear1d(wid, nwg, li);
  if (e >= p.rows * p.np) { return; }
  let r = e / p.np;
  let b = e % p.np;
  let a = p.rowStart + r;
  if (b < a) { return; }
  let pa = perm[a];
  let pb = perm[b];
  let sr = min(pa, pb);
  if (sr < p.srcRowStart || sr >= p.srcRowStart + p.srcRows) { return; }
  h[e] = src[(sr - p.srcRowStart) * p.np + max(pa, pb)];
}
