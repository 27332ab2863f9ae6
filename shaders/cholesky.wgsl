// Blocked Cholesky factorisation and triangular inverse of a padded [np, np]
// f32 matrix, giving llm-compressor's "Hinv" = cholesky(inverse(H), upper)
// (llm-compressor.md §6.1 step 4) without forming the inverse.
//
// Why this works: if U is upper triangular with UᵀU = H⁻¹, then H = U⁻¹U⁻ᵀ
// with U⁻¹ upper. Reversing the index order (i → np−1−i) turns upper into
// lower, so J·H·J = L'·L'ᵀ is an ordinary Cholesky factorisation and
// U = J·L'⁻¹·J. With `rev = 1` every kernel addresses the matrix through
// that reversal: logical (i, j) is physical (np−1−i, np−1−j). The logical
// lower triangle is then the physical upper triangle — exactly what the
// Hessian accumulation writes — and the result of the inverse lands as the
// upper-triangular U in physical order. With `rev = 0` the kernels compute the
// plain lower Cholesky factor (tests compare it with the float64 reference).
// Cost: n³/3 (factor) + n³/3 (inverse), against 4n³/3 for torch's three steps.
//
// Blocking (right-looking, NB = 64): for each block column k
//   factorDiagonal  L_kk = chol(A_kk) and D_k = L_kk⁻¹ (one workgroup), failure flag;
//   panelSolve      L_ik = A_ik·D_kᵀ for the rows below, copied to a compact panel;
//   trailingUpdate  A_ij −= L_ik·L_jkᵀ for the tiles below and right (SYRK).
// The inverse solves L·X = I by block rows of X:
//   inverseRowSolve X_k,: = D_k·B_k,: (columns ≤ block k), copied to a compact row block R;
//   inverseUpdate   B_i,: −= L_ik·R for the block rows below.
// Matrices may be split into row chunks (multiples of NB rows): each dispatch
// sees one chunk, rows [rowStart, rowStart + rows) physical; every logical
// block row lives in a single chunk.

struct Params {
  np: u32,
  rowStart: u32,   // first physical row of the bound chunk
  rows: u32,       // physical rows in the bound chunk
  k: u32,          // block column being processed
  rev: u32,        // 1 = reversed addressing (see above)
  lo: u32,         // first logical row (panelSolve) or tile row (updates) of this dispatch
  count: u32,      // rows or tile rows of this dispatch
  mode: u32,       // setIdentity: 0 = always, 1 = only if the factorisation failed
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> a4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dinv: array<f32>;
@group(0) @binding(4) var<storage, read_write> panel: array<f32>;
@group(0) @binding(5) var<storage, read_write> status: array<u32>;
@group(0) @binding(6) var<storage, read_write> x: array<f32>;
@group(0) @binding(7) var<storage, read_write> x4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> rowblk: array<f32>;

const NB: u32 = 64u;      // block size; also the tile size of the updates
override WG: u32 = 256u;  // invocations of factorDiagonal
const KC: u32 = 16u;      // inner-dimension slice staged per step in the updates
const TPD: u32 = NB / 4u; // update invocations per tile dimension (4×4 outputs each)
const THREADS: u32 = TPD * TPD;

/** Physical row of logical row i. */
fn prow(i: u32) -> u32 {
  return select(i, p.np - 1u - i, p.rev == 1u);
}

/** Offset in the bound chunk of logical element (i, j). */
fn elem(i: u32, j: u32) -> u32 {
  return (prow(i) - p.rowStart) * p.np + prow(j);
}

var<workgroup> blk: array<f32, NB * NB>;

// Factorises the NB×NB diagonal block k in workgroup memory and inverts it.
// A non-positive (or NaN) pivot is torch's LinAlgError: status[0] records the
// first failing column + 1, and the computation carries on (NaNs) so that no
// host round trip is needed; setIdentity(mode 1) later swaps in the identity.
// Only 16 KiB of workgroup memory (the portable minimum) is used: the failure
// flag lives in a private variable that every invocation computes alike.
@compute @workgroup_size(WG)
fn factorDiagonal(@builtin(local_invocation_index) li: u32) {
  let base = p.k * NB;
  for (var e = li; e < NB * NB; e += WG) {
    let i = e / NB;
    let j = e % NB;
    var v = 0.0;
    if (j <= i) { v = a[elem(base + i, base + j)]; }
    blk[e] = v;
  }
  var failedAt = 0u;
  workgroupBarrier();
  for (var j = 0u; j < NB; j++) {
    let piv = blk[j * NB + j];
    if (!(piv > 0.0) && failedAt == 0u) { failedAt = base + j + 1u; }
    let ljj = sqrt(piv);
    workgroupBarrier();
    for (var i = j + li; i < NB; i += WG) {
      if (i == j) { blk[j * NB + j] = ljj; } else { blk[i * NB + j] = blk[i * NB + j] / ljj; }
    }
    workgroupBarrier();
    for (var e = li; e < NB * NB; e += WG) {
      let i = e / NB;
      let c = e % NB;
      if (c > j && c <= i) { blk[e] = blk[e] - blk[i * NB + j] * blk[c * NB + j]; }
    }
    workgroupBarrier();
  }
  for (var e = li; e < NB * NB; e += WG) {
    let i = e / NB;
    let j = e % NB;
    a[elem(base + i, base + j)] = select(0.0, blk[e], j <= i);
  }
  // D_k = L_kk⁻¹ by forward substitution, one column per invocation.
  let doff = p.k * NB * NB;
  for (var c = li; c < NB; c += WG) {
    var xs: array<f32, NB>;
    xs[c] = 1.0 / blk[c * NB + c];
    for (var i = c + 1u; i < NB; i++) {
      var s = 0.0;
      for (var t = c; t < i; t++) { s = fma(blk[i * NB + t], xs[t], s); }
      xs[i] = -s / blk[i * NB + i];
    }
    for (var i = 0u; i < NB; i++) { dinv[doff + i * NB + c] = select(0.0, xs[i], i >= c); }
  }
  if (li == 0u && failedAt != 0u) {
    if (status[0] == 0u) { status[0] = failedAt; }
  }
}

// L_ik = A_ik · D_kᵀ for logical rows [lo, lo + count) of this chunk, one row
// per invocation (64 contiguous values each), written back to A and to the
// compact panel [np, NB] indexed by logical row.
@compute @workgroup_size(64)
fn panelSolve(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
  let r = (wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y) * 64u + li;
  if (r >= p.count) { return; }
  let i = p.lo + r;
  let base = p.k * NB;
  let doff = p.k * NB * NB;
  var row: array<f32, NB>;
  for (var t = 0u; t < NB; t++) { row[t] = a[elem(i, base + t)]; }
  for (var c = 0u; c < NB; c++) {
    var s = 0.0;
    for (var t = 0u; t <= c; t++) { s = fma(row[t], dinv[doff + c * NB + t], s); }
    a[elem(i, base + c)] = s;
    panel[i * NB + c] = s;
  }
}

var<workgroup> sa: array<f32, KC * NB>;
// Scalar staging: invocations writing different components of one vec4
// would race (a component store may touch the whole vector).
var<workgroup> sb: array<f32, KC * NB>;

fn sbQuad(o: u32) -> vec4<f32> {
  return vec4<f32>(sb[o], sb[o + 1u], sb[o + 2u], sb[o + 3u]);
}

/**
 * Tile (I, J) of the trailing update handled by this workgroup: tile rows
 * [lo, lo + count) of the chunk, tile columns J0 + jj for jj < widthTiles.
 */
fn tileOf(wid: vec3<u32>, nwg: vec3<u32>, widthTiles: u32) -> vec2<u32> {
  let lin = wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y;
  return vec2<u32>(p.lo + lin / max(widthTiles, 1u), lin % max(widthTiles, 1u));
}

// acc += this invocation's 4×4 block of sa[:, rows]ᵀ · sb[:, cols] over the
// staged KC slice (between the caller's barriers).
fn accumulateSlice(acc: ptr<function, array<vec4<f32>, 4>>, lid: vec3<u32>) {
  for (var kk = 0u; kk < KC; kk++) {
    let b = sbQuad(kk * NB + lid.x * 4u);
    for (var i = 0u; i < 4u; i++) { (*acc)[i] = fma(vec4<f32>(sa[kk * NB + lid.y * 4u + i]), b, (*acc)[i]); }
  }
}

fn quadOrder(v: vec4<f32>) -> vec4<f32> {
  return select(v, v.wzyx, p.rev == 1u);
}

// A_ij −= Σ_t L_it L_jt over tiles k < J ≤ I, tile rows of this chunk. The
// panel rows come from the compact copy, so A is read and written only here.
@compute @workgroup_size(TPD, TPD, 1)
fn trailingUpdate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let nt = p.np / NB;
  let width = nt - p.k - 1u;
  let t = tileOf(wid, nwg, width);
  let ti = t.x;
  let tj = p.k + 1u + t.y;
  if (t.x >= p.lo + p.count || tj > ti) { return; }
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < NB; k0 += KC) {
    // The invocations stage KC × NB values of each operand (4 each at NB = 64).
    for (var l = 0u; l < KC * NB / THREADS; l++) {
      let e = l * THREADS + li;
      let c = e / KC;
      let kk = e % KC;
      sa[kk * NB + c] = panel[(ti * NB + c) * NB + k0 + kk];
      sb[kk * NB + c] = panel[(tj * NB + c) * NB + k0 + kk];
    }
    workgroupBarrier();
    accumulateSlice(&acc, lid);
    workgroupBarrier();
  }
  // Logical columns j0..j0+3 are one aligned vec4; under rev it is physical
  // np−4−j0..np−1−j0 with its components reversed (written inline: the race
  // detector's interpreter mis-evaluates indices returned by helper functions).
  let j0 = tj * NB + lid.x * 4u;
  let c4 = select(j0 / 4u, (p.np - 4u - j0) / 4u, p.rev == 1u);
  for (var i = 0u; i < 4u; i++) {
    let row = ti * NB + lid.y * 4u + i;
    let off = (select(row, p.np - 1u - row, p.rev == 1u) - p.rowStart) * (p.np / 4u) + c4;
    let old = a4[off];
    a4[off] = old - quadOrder(acc[i]);
  }
}

// X_k,c = D_k · B_k,c for logical columns c ≤ block k (one column per
// invocation), written back and copied to the compact row block [NB, np].
@compute @workgroup_size(64)
fn inverseRowSolve(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) li: u32) {
  let c = (wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y) * 64u + li;
  if (c >= (p.k + 1u) * NB) { return; }
  let base = p.k * NB;
  let doff = p.k * NB * NB;
  var b: array<f32, NB>;
  for (var t = 0u; t < NB; t++) { b[t] = x[elem(base + t, c)]; }
  for (var i = 0u; i < NB; i++) {
    var s = 0.0;
    for (var t = 0u; t <= i; t++) { s = fma(dinv[doff + i * NB + t], b[t], s); }
    x[elem(base + i, c)] = s;
    rowblk[i * p.np + c] = s;
  }
}

// B_ij −= Σ_t L_i,kNB+t · R_t,j for tile rows I > k of this chunk and tile
// columns J ≤ k. L is read from A (same chunking as X), R from the compact row block.
@compute @workgroup_size(TPD, TPD, 1)
fn inverseUpdate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let width = p.k + 1u;
  let t = tileOf(wid, nwg, width);
  let ti = t.x;
  let tj = t.y;
  if (t.x >= p.lo + p.count) { return; }
  let base = p.k * NB;
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < NB; k0 += KC) {
    for (var l = 0u; l < KC * NB / THREADS; l++) {
      let e = l * THREADS + li;
      let c = e / KC;
      let kk = e % KC;
      sa[kk * NB + c] = a[elem(ti * NB + c, base + k0 + kk)];
      let rr = e / NB;
      let rc = e % NB;
      sb[rr * NB + rc] = rowblk[(k0 + rr) * p.np + tj * NB + rc];
    }
    workgroupBarrier();
    accumulateSlice(&acc, lid);
    workgroupBarrier();
  }
  // Logical columns j0..j0+3 are one aligned vec4; under rev it is physical
  // np−4−j0..np−1−j0 with its components reversed (written inline: the race
  // detector's interpreter mis-evaluates indices returned by helper functions).
  let j0 = tj * NB + lid.x * 4u;
  let c4 = select(j0 / 4u, (p.np - 4u - j0) / 4u, p.rev == 1u);
  for (var i = 0u; i < 4u; i++) {
    let row = ti * NB + lid.y * 4u + i;
    let off = (select(row, p.np - 1u - row, p.rev == 1u) - p.rowStart) * (p.np / 4u) + c4;
    let old = x4[off];
    x4[off] = old - quadOrder(acc[i]);
  }
}

// X = I over the chunk (mode 0: the start of the inverse), or only when
// status[0] reports a failed factorisation (mode 1: llm-compressor's RTN
// fallback, decided on the GPU without a host round trip).
@compute @workgroup_size(256)
fn setIdentity(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  let e = (wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y) * 256u + li;
  if (e >= p.rows * p.np) { return; }
  if (p.mode == 1u && status[0] == 0u) { return; }
  let r = p.rowStart + e / p.np;
  x[e] = select(0.0, 1.0, r == e % p.np);
}
