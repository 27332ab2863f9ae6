// The lazy-batch OBS column loop shared by GPTQ and SparseGPT
// (llm-compressor.md §6.1 step 5, §6.2), recorded block by block with no host
// round trip:
//   quantizeBlock / pruneBlock  the block's columns one after another, one
//       invocation per weight row: w = W[r, i] minus the errors of the
//       block's earlier columns (left-looking, in the same order as torch's
//       right-looking updates), q = fake-quantized or masked w,
//       err = (w − q) / U[i, i], loss += (w − q)² / U[i, i]²;
//   blockUpdate  W[:, i2:] −= Err · U[i1:i2, i2:] (tiled, one dispatch).
// W is the f32 working copy [rows, cols] (possibly one row chunk: rowStart is
// its first global row). U is the upper factor of H⁻¹; `ublk` holds its rows
// i1..i2 (all np columns), copied out of the possibly chunked matrix.
// Quantization follows compressed-tensors exactly (§4.3, §8): correctly
// rounded x / s, + zero point, clamp, round half to even (WGSL round), or
// FP8 E4M3 / FP4 E2M1 rounding, then (q − zp)·s.

struct Params {
  rows: u32,         // W rows in the bound chunk
  rowStart: u32,     // global row of the chunk's first row
  cols: u32,         // W columns (row stride)
  np: u32,           // row stride of ublk
  i1: u32,           // first column of the block
  count: u32,        // columns in the block (≤ MAXB)
  errStride: u32,    // row stride of err
  rowsPerScale: u32, // scale row = global row / rowsPerScale
  scaleCols: u32,    // scale columns per scale row
  pruneN: u32,
  pruneM: u32,
  maskWords: u32,    // u32 words per row of blockMask
  existWords: u32,   // u32 words per row of existing
  c0: u32,           // blockUpdate: first column to update
  qmin: f32,
  qmax: f32,
  maskOffset: u32,   // column of blockMask holding this block's first column
  dqRound: u32,      // dequantized values rounded to the scale's dtype: 0 f32, 1 bf16, 2 f16
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<storage, read> ublk: array<f32>;
@group(0) @binding(3) var<storage, read_write> err: array<f32>;
@group(0) @binding(4) var<storage, read> gidx: array<u32>;
@group(0) @binding(5) var<storage, read> scale: array<f32>;
@group(0) @binding(6) var<storage, read> zp: array<i32>;
@group(0) @binding(7) var<storage, read_write> losses: array<f32>;
@group(0) @binding(8) var<storage, read> blockMask: array<u32>;
@group(0) @binding(9) var<storage, read> existing: array<u32>;
@group(0) @binding(10) var<storage, read> src: array<f32>;
@group(0) @binding(11) var<storage, read> perm: array<u32>;
@group(0) @binding(12) var<storage, read> dead: array<u32>;

const MAXB: u32 = 128u;  // widest block one dispatch handles (wider blocks are split by the wrapper)
const MAXM: u32 = 16u;   // widest N:M group
const TILE: u32 = 64u;   // blockUpdate tile (rows × columns)
const KC: u32 = 16u;     // inner-dimension slice staged per step
const TPD: u32 = TILE / 4u;
const THREADS: u32 = TPD * TPD;

// ---------------------------------------------------------------------------
// Exact arithmetic helpers

// divRN: x / s correctly rounded to f32 (WGSL division may be 2.5 ULP off,
// which moves codes at rounding ties; compressed-tensors.md §8).
#include "lib/floatbits.wgsl"
#include "lib/grid.wgsl"

// Nearest float8 e4m3fn value (ties to even) of t, |t| ≤ 448: the grid step
// is 2^(e−3) for binade e ≥ −6 (subnormals share binade −6's step). Scaling
// by exact powers of two keeps every step exact.
fn roundFp8(t: f32) -> f32 {
  let a = abs(t);
  let e = max(i32((bitcast<u32>(a) >> 23u) & 0xffu) - 127, -6);
  let step = bitcast<f32>(u32(e - 3 + 127) << 23u);
  let inv = bitcast<f32>(u32(127 - (e - 3)) << 23u);
  return sign(t) * round(a * inv) * step;
}

// FP4 e2m1 rounding table of compressed-tensors (§4.3).
fn roundFp4(t: f32) -> f32 {
  let a = abs(t);
  var q = 6.0;
  if (a <= 0.25) { q = 0.0; }
  else if (a < 0.75) { q = 0.5; }
  else if (a <= 1.25) { q = 1.0; }
  else if (a < 1.75) { q = 1.5; }
  else if (a <= 2.5) { q = 2.0; }
  else if (a < 3.5) { q = 3.0; }
  else if (a <= 5.0) { q = 4.0; }
  return select(q, -q, t < 0.0);
}

// Round an f32 to bf16 or f16 (nearest even), kept as f32: torch computes the
// dequantized (q − zp)·scale in the scale's dtype (the model's), while the
// product itself is exact in f32 (≤ 9-bit code × ≤ 11-bit scale).
fn roundToScaleDtype(v: f32) -> f32 {
  if (p.dqRound == 1u) {
    let b = bitcast<u32>(v);
    return bitcast<f32>((b + 0x7fffu + ((b >> 16u) & 1u)) & 0xffff0000u);
  }
  if (p.dqRound == 2u) {
    if (abs(v) < 6.103515625e-05) {
      // f16 subnormals: multiples of 2^-24 (scaling by powers of two is exact).
      return round(v * 16777216.0) * 5.9604644775390625e-08;
    }
    let b = bitcast<u32>(v);
    return bitcast<f32>((b + 0xfffu + ((b >> 13u) & 1u)) & 0xffffe000u);
  }
  return v;
}

// compressed-tensors' fake_quantize of one value with scale s and zero point z.
fn fakeQuantize(x: f32, s: f32, z: f32) -> f32 {
  let t = clamp(divRN(x, s) + z, p.qmin, p.qmax);
#if FP8
  let q = roundFp8(t);
#else
#if FP4
  let q = roundFp4(t);
#else
  let q = round(t);
#endif
#endif
  return roundToScaleDtype((q - z) * s);
}

fn existingBit(gr: u32, col: u32) -> u32 {
  return (existing[gr * p.existWords + col / 32u] >> (col % 32u)) & 1u;
}

// ---------------------------------------------------------------------------
// GPTQ: quantize the block's columns, propagating each column's error to the
// later columns of the block.

@compute @workgroup_size(64)
fn quantizeBlock(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
  let r = linearWorkgroup(wid, nwg) * 64u + li;
  if (r >= p.rows) { return; }
  let gr = p.rowStart + r;
  let wrow = r * p.cols;
  let srow = (gr / p.rowsPerScale) * p.scaleCols;
  var e: array<f32, MAXB>;
  var loss = 0.0;
  for (var i = 0u; i < p.count; i++) {
    let col = p.i1 + i;
    var x = w[wrow + col];
    for (var t = 0u; t < i; t++) { x = x - e[t] * ublk[t * p.np + col]; }
    let d = ublk[i * p.np + col];
    let k = srow + gidx[col];
    var q = fakeQuantize(x, scale[k], f32(zp[k]));
#if PRESERVE
    // Zeros a pruning modifier decided stay zero (their error still propagates).
    if (existingBit(gr, col) == 1u) { q = 0.0; }
#endif
    let diff = x - q;
    loss += (diff * diff) / (d * d);
    let ei = diff / d;
    e[i] = ei;
    err[gr * p.errStride + i] = ei;
    w[wrow + col] = q;
  }
  losses[gr] = losses[gr] + 0.5 * loss;
}

// ---------------------------------------------------------------------------
// SparseGPT: zero the masked entries of the block's columns, propagating the
// error. Unstructured masks come precomputed per block (prune.wgsl); N:M
// groups are chosen at the group's first column from the then-current values.

@compute @workgroup_size(64)
fn pruneBlock(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
  let r = linearWorkgroup(wid, nwg) * 64u + li;
  if (r >= p.rows) { return; }
  let gr = p.rowStart + r;
  let wrow = r * p.cols;
  var e: array<f32, MAXB>;
  var loss = 0.0;
#if NM
  var g: array<f32, MAXM>;
  var gmask = 0u;
#endif
  for (var i = 0u; i < p.count; i++) {
    let col = p.i1 + i;
#if NM
    let gi = i % p.pruneM;
    if (gi == 0u) {
      let width = min(p.pruneM, p.count - i);
      var scores: array<f32, MAXM>;
      gmask = 0u;
      for (var c = 0u; c < width; c++) {
        var v = w[wrow + col + c];
        for (var t = 0u; t < i; t++) { v = v - e[t] * ublk[t * p.np + col + c]; }
        g[c] = v;
        let dd = ublk[(i + c) * p.np + col + c];
        var sc = divRN(v * v, dd * dd);
#if PRESERVE
        if (existingBit(gr, col + c) == 1u) {
          sc = 0.0;
          gmask = gmask | (1u << c);
        }
#endif
        scores[c] = sc;
      }
      // The N smallest scores, ties to the lower column.
      var chosen = 0u;
      for (var n = 0u; n < p.pruneN; n++) {
        var best = MAXM;
        var bestV = 0.0;
        for (var c = 0u; c < width; c++) {
          if ((chosen & (1u << c)) == 0u && (best == MAXM || scores[c] < bestV)) {
            best = c;
            bestV = scores[c];
          }
        }
        if (best < MAXM) { chosen = chosen | (1u << best); }
      }
      gmask = gmask | chosen;
    }
    var x = g[gi];
    for (var t = i - gi; t < i; t++) { x = x - e[t] * ublk[t * p.np + col]; }
    let pruned = (gmask >> gi) & 1u;
#else
    var x = w[wrow + col];
    for (var t = 0u; t < i; t++) { x = x - e[t] * ublk[t * p.np + col]; }
    let mi = p.maskOffset + i;
    let pruned = (blockMask[gr * p.maskWords + mi / 32u] >> (mi % 32u)) & 1u;
#endif
    let d = ublk[i * p.np + col];
    let q = select(x, 0.0, pruned == 1u);
    let diff = x - q;
    loss += (diff * diff) / (d * d);
    let ei = diff / d;
    e[i] = ei;
    err[gr * p.errStride + i] = ei;
    w[wrow + col] = q;
  }
  losses[gr] = losses[gr] + 0.5 * loss;
}

// ---------------------------------------------------------------------------
// W[r, c] −= Σ_t err[r, t] · U[i1 + t, c] for columns c ≥ c0: one 64×64 tile
// per workgroup of 16×16 invocations (4×4 outputs each), inner dimension staged in
// slices of KC. With PRESERVE, entries of the existing mask stay untouched
// (SparseGPT's preserve_sparsity_mask).

var<workgroup> se: array<f32, KC * TILE>;
var<workgroup> su: array<f32, KC * TILE>;

@compute @workgroup_size(TPD, TPD, 1)
fn blockUpdate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let colTiles = (p.cols - p.c0 + TILE - 1u) / TILE;
  let lin = wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y;
  let rt = lin / colTiles;
  let ct = lin % colTiles;
  if (rt * TILE >= p.rows) { return; }
  let r0 = rt * TILE;
  let cbase = p.c0 + ct * TILE;
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < p.count; k0 += KC) {
    for (var l = 0u; l < KC * TILE / THREADS; l++) {
      let e = l * THREADS + li;
      let row = e / KC;
      let kk = e % KC;
      var v = 0.0;
      if (r0 + row < p.rows && k0 + kk < p.count) { v = err[(p.rowStart + r0 + row) * p.errStride + k0 + kk]; }
      se[kk * TILE + row] = v;
      let uk = e / TILE;
      let uc = e % TILE;
      var u = 0.0;
      if (cbase + uc < p.cols && k0 + uk < p.count) { u = ublk[(k0 + uk) * p.np + cbase + uc]; }
      su[uk * TILE + uc] = u;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < KC; kk++) {
      let o = kk * TILE + lid.x * 4u;
      let b = vec4<f32>(su[o], su[o + 1u], su[o + 2u], su[o + 3u]);
      for (var i = 0u; i < 4u; i++) { acc[i] = fma(vec4<f32>(se[kk * TILE + lid.y * 4u + i]), b, acc[i]); }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let row = r0 + lid.y * 4u + i;
    if (row >= p.rows) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let col = cbase + lid.x * 4u + j;
      if (col >= p.cols) { continue; }
#if PRESERVE
      if (existingBit(p.rowStart + row, col) == 1u) { continue; }
#endif
      let o = row * p.cols + col;
      w[o] = w[o] - acc[i][j];
    }
  }
}

// ---------------------------------------------------------------------------
// Column permutation of the working copy (activation order), out of place,
// row-local so it runs chunk by chunk. Forward: w[r, a] = src[r, perm[a]],
// and dead columns (in permuted order) are zeroed (§6.1 step 3). INVERSE:
// w[r, perm[a]] = src[r, a].

@compute @workgroup_size(256)
fn permuteColumns(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
  let e = linearWorkgroup(wid, nwg) * 256u + li;
  if (e >= p.rows * p.cols) { return; }
  let r = e / p.cols;
  let a = e % p.cols;
#if INVERSE
  w[r * p.cols + perm[a]] = src[e];
#else
  w[e] = select(src[r * p.cols + perm[a]], 0.0, dead[a] == 1u);
#endif
}

// ---------------------------------------------------------------------------
// Small per-layer preparations (one dispatch each).

struct IndexParams {
  count: u32,    // elements to write
  divisor: u32,  // group size (columns per scale column)
  mode: u32,     // groupIndex: 0 = c / divisor, 1 = perm[c] / divisor, 2 = 0
  _p0: u32,
}

@group(0) @binding(13) var<uniform> ip: IndexParams;
@group(0) @binding(14) var<storage, read_write> indexOut: array<u32>;
@group(0) @binding(15) var<storage, read_write> valuesOut: array<f32>;
@group(0) @binding(16) var<storage, read> values: array<f32>;
@group(0) @binding(17) var<storage, read> globalScale: array<f32>;

// The loop's scale column per (permuted) column: g_idx = arange // group_size,
// taken through the permutation for static/weight activation order (§6.1 step 2).
@compute @workgroup_size(256)
fn groupIndex(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
  let c = linearWorkgroup(wid, nwg) * 256u + li;
  if (c >= ip.count) { return; }
  var g = 0u;
  if (ip.mode == 0u) { g = c / ip.divisor; } else if (ip.mode == 1u) { g = perm[c] / ip.divisor; }
  indexOut[c] = g;
}

// weight_g_idx for activation order "group": the identity grouping of the
// permuted columns, mapped back to the original column order.
@compute @workgroup_size(256)
fn scatterGroupIndex(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) li: u32) {
  let a = linearWorkgroup(wid, nwg) * 256u + li;
  if (a >= ip.count) { return; }
  indexOut[perm[a]] = a / ip.divisor;
}

// scale / global_scale, correctly rounded (NVFP4's effective scale, §4.3).
@compute @workgroup_size(256)
fn divideScales(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
  let i = linearWorkgroup(wid, nwg) * 256u + li;
  if (i >= ip.count) { return; }
  valuesOut[i] = divRN(values[i], globalScale[0]);
}
