// Causal grouped-query attention, tiled with an online softmax
// (FlashAttention's recurrence): o = softmax(q·kᵀ·scale + causal mask)·v.
// No score matrix is ever stored: a workgroup owns BQ queries of one head and
// streams the keys in tiles of BK, keeping per query a running max m, a
// running denominator l and an unnormalised output accumulator.
//
// Layout (row-major, heads interleaved as the projections write them):
//   q, o [batch·seqLen, qHeads·D]    k, v [batch·kvLen, kvHeads·D]
// Query t of a sequence sits at position qOffset + t; key j at position j
// (qOffset = kvLen − seqLen when earlier keys come from a cache). Key j is
// visible to a query at position i when j ≤ i and, with a sliding window w,
// i − j < w. Query head h reads kv head h / (qHeads / kvHeads).
//
// Work split: WG = BQ·TPQ threads; TPQ threads share a query, each holding
// NC vec4 slices (c·TPQ + lane) of its q row and output accumulator in
// registers. Per key tile: (1) K and V tiles → workgroup memory, (2) each
// thread writes the partial dot products of its slices for all BK keys,
// (3) each thread sums the TPQ partials of its query into full scores and
// applies the online-softmax update to its slices.
// D4 = head_dim / 4, TPQ, BK are pipeline constants (one pipeline per head
// size); NC = ceil(D4 / TPQ) ≤ MAX_NC.

struct Params {
  seqLen: u32,
  kvLen: u32,
  qOffset: u32,
  qHeads: u32,
  kvHeads: u32,
  window: u32,     // sliding window in positions; 0 = none
  qBlocks: u32,    // ceil(seqLen / BQ)
  count: u32,      // workgroups that hold work: batch · qHeads · qBlocks
  scale: f32,      // 1 / sqrt(head_dim)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> o: array<vec4<f32>>;

override D4: u32 = 2u;
override TPQ: u32 = 1u;
override BK: u32 = 32u;
override WG: u32 = 64u;

const MAX_NC: u32 = 8u;
// Scores of masked keys; finite so that max/exp never meet inf − inf.
const MASKED: f32 = -3.0e38;

var<workgroup> kTile: array<vec4<f32>, BK * D4>;
var<workgroup> vTile: array<vec4<f32>, BK * D4>;
var<workgroup> partials: array<f32, WG * BK>;

// Full score of key j for query qi of the block (the sum of its TPQ threads'
// partial dot products), or MASKED when the key is not visible from qPos.
fn score(j: u32, qPos: u32, qi: u32, jj: u32) -> f32 {
  let visible = j <= qPos && j < p.kvLen && (p.window == 0u || qPos - j < p.window);
  if (!visible) { return MASKED; }
  var sum = 0.0;
  for (var r = 0u; r < TPQ; r++) { sum += partials[jj * WG + qi * TPQ + r]; }
  return sum;
}

@compute @workgroup_size(WG)
fn attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let BQ = WG / TPQ;
  let NC = (D4 + TPQ - 1u) / TPQ;
  let group = wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y;
  // Folded grids may hold a few empty workgroups at the end; the test is
  // uniform across the workgroup, so returning before barriers is safe.
  if (group >= p.count) { return; }
  let qb = group % p.qBlocks;
  let bh = group / p.qBlocks;
  let h = bh % p.qHeads;
  let b = bh / p.qHeads;
  let kh = h / (p.qHeads / p.kvHeads);
  let qi = li / TPQ;
  let lane = li % TPQ;
  let t = qb * BQ + qi;
  let liveQuery = t < p.seqLen;
  let qPos = p.qOffset + t;

  let qStride4 = p.qHeads * D4;       // vec4s per q/o row
  let kvStride4 = p.kvHeads * D4;     // vec4s per k/v row
  let qBase = (b * p.seqLen + min(t, p.seqLen - 1u)) * qStride4 + h * D4;
  var qr: array<vec4<f32>, MAX_NC>;
  var acc: array<vec4<f32>, MAX_NC>;
  for (var c = 0u; c < NC; c++) {
    let d4 = c * TPQ + lane;
    qr[c] = select(vec4<f32>(0.0), q[qBase + min(d4, D4 - 1u)], d4 < D4) * p.scale;
    acc[c] = vec4<f32>(0.0);
  }
  var m = MASKED;
  var l = 0.0;

  // Keys this block can see, from the first query's window start to the last query.
  let firstPos = p.qOffset + qb * BQ;
  let lastPos = p.qOffset + min(p.seqLen, qb * BQ + BQ) - 1u;
  var keyStart = 0u;
  if (p.window > 0u && firstPos + 1u > p.window) { keyStart = firstPos + 1u - p.window; }
  keyStart = (keyStart / BK) * BK;
  let kvBase = b * p.kvLen;

  for (var kt = keyStart; kt <= lastPos; kt += BK) {
    for (var e = li; e < BK * D4; e += WG) {
      let j = kt + e / D4;
      let src = (kvBase + min(j, p.kvLen - 1u)) * kvStride4 + kh * D4 + e % D4;
      kTile[e] = k[src];
      vTile[e] = v[src];
    }
    workgroupBarrier();

    for (var jj = 0u; jj < BK; jj++) {
      var dotp = 0.0;
      for (var c = 0u; c < NC; c++) {
        let d4 = c * TPQ + lane;
        if (d4 < D4) { dotp += dot(qr[c], kTile[jj * D4 + d4]); }
      }
      // Key-major so a warp's threads write consecutive words (no bank conflicts).
      partials[jj * WG + li] = dotp;
    }
    workgroupBarrier();

    // Scores live in workgroup memory (not a private array, which a GPU
    // spills to local memory when the key loop is not unrolled); two sweeps:
    // the tile maximum, then the exponentials and the weighted values.
    var tileMax = MASKED;
    for (var jj = 0u; jj < BK; jj++) {
      tileMax = max(tileMax, score(kt + jj, qPos, qi, jj));
    }
    if (tileMax > MASKED) {
      let mNew = max(m, tileMax);
      let alpha = exp(m - mNew);
      l *= alpha;
      for (var c = 0u; c < NC; c++) { acc[c] *= alpha; }
      for (var jj = 0u; jj < BK; jj++) {
        let sc = score(kt + jj, qPos, qi, jj);
        if (sc > MASKED) {
          let pj = exp(sc - mNew);
          l += pj;
          for (var c = 0u; c < NC; c++) {
            let d4 = c * TPQ + lane;
            if (d4 < D4) { acc[c] += pj * vTile[jj * D4 + d4]; }
          }
        }
      }
      m = mNew;
    }
    // The next tile overwrites kTile, vTile and partials.
    workgroupBarrier();
  }

  if (!liveQuery) { return; }
  let inv = 1.0 / l;
  for (var c = 0u; c < NC; c++) {
    let d4 = c * TPQ + lane;
    if (d4 < D4) { o[qBase + d4] = acc[c] * inv; }
  }
}
