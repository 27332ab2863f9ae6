// Pruning masks (llm-compressor.md §6.2–6.3 and magnitude pruning):
//   exact k-th smallest selection over many values by radix select on the
//   f32 bit patterns (non-negative floats order like their u32 bits):
//   radixInit → 4 × (radixHistogram → radixPick), state kept on the GPU;
//   SparseGPT's per-block saliencies w²/d² and their threshold mask;
//   magnitude pruning against a threshold; Wanda's per-row selection of the
//   smallest |W|·sqrt(S) (stable: ties by column), N:M groups;
//   the mask of existing zeros (preserve_sparsity_mask).
// Metrics are formed with correctly rounded f32 operations (division and
// square root included), as torch does, so masks equal the reference's.

struct Params {
  count: u32,      // keys (radix), elements, or rows × words of this dispatch
  offset: u32,     // first key of this dispatch in `keys`
  shift: u32,      // radix pass: bit position of the digit (24, 16, 8, 0)
  keyMask: u32,    // applied to keys (0x7fffffff: |x| of an f32)
  k: u32,          // radixInit: rank (0-based) to select; wandaRows: values to prune per row
  rows: u32,       // weight rows in the bound chunk
  rowStart: u32,   // global row of the chunk's first row
  cols: u32,       // weight columns
  i1: u32,         // SparseGPT block: first column
  width: u32,      // SparseGPT block: columns
  words: u32,      // u32 words per row of a bit mask
  existWords: u32, // u32 words per row of `existing`
  pruneN: u32,
  pruneM: u32,
  kTotal: u32,     // SparseGPT + preserve: int(numel·sparsity) of the block
  eps: f32,        // keepMask: |w| > eps is kept
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read_write> hist: array<atomic<u32>, 256>;
@group(0) @binding(3) var<storage, read_write> state: array<u32>;
@group(0) @binding(4) var<storage, read_write> counter: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> w: array<f32>;
@group(0) @binding(6) var<storage, read> udiag: array<f32>;
@group(0) @binding(7) var<storage, read_write> scores: array<u32>;
@group(0) @binding(8) var<storage, read> existing: array<u32>;
@group(0) @binding(9) var<storage, read_write> mask: array<u32>;
@group(0) @binding(10) var<storage, read> colRoot: array<f32>;
@group(0) @binding(11) var<storage, read> colSq: array<f32>;
@group(0) @binding(12) var<storage, read_write> colRootOut: array<f32>;

const WG: u32 = 256u;
const MAXM: u32 = 32u;

#include "lib/grid.wgsl"

fn flatIndex(wid: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 {
  return linearWorkgroup(wid, nwg) * WG + li;
}

// ---------------------------------------------------------------------------
// Correctly rounded f32 arithmetic (WGSL's / and sqrt are not).

// divRN: x / s correctly rounded (subnormals included).
#include "lib/floatbits.wgsl"

// sqrt(x) for x ≥ 0 by digit-by-digit integer square root: x = N·2^t with
// t even and N in [2^24, 2^26); the root of N·2^24 has 25 bits (24 + guard),
// the remainder is sticky. Zero, subnormal and non-finite x use sqrt().
fn sqrtRn(x: f32) -> f32 {
  let bx = bitcast<u32>(x);
  let ex = (bx >> 23u) & 0xffu;
  if (x <= 0.0 || ex == 0u || ex == 255u) { return sqrt(x); }
  let m = (bx & 0x7fffffu) | 0x800000u;
  var t = i32(ex) - 127 - 23;
  var n = 0u;
  if ((t & 1) == 0) {
    n = m << 2u;
    t = t - 2;
  } else {
    n = m << 1u;
    t = t - 1;
  }
  var rem = 0u;
  var root = 0u;
  for (var i = 0u; i < 25u; i++) {
    var pair = 0u;
    if (i < 13u) { pair = (n >> (24u - 2u * i)) & 3u; }
    rem = (rem << 2u) | pair;
    let trial = (root << 2u) | 1u;
    root = root << 1u;
    if (rem >= trial) {
      rem = rem - trial;
      root = root | 1u;
    }
  }
  let guard = root & 1u;
  var mant = root >> 1u;
  var e = t / 2 + 12 + 127;
  if (guard == 1u && (rem != 0u || (mant & 1u) == 1u)) { mant = mant + 1u; }
  if (mant == 0x1000000u) {
    mant = mant >> 1u;
    e = e + 1;
  }
  return bitcast<f32>((u32(e) << 23u) | (mant & 0x7fffffu));
}

// ---------------------------------------------------------------------------
// Radix select. state: [0] prefix (the selected key once 4 passes ran),
// [1] rank still to skip inside the prefix, [2] keys equal to the result
// (after the last pass), [3] counter scratch (existing zeros of a block).

@compute @workgroup_size(WG)
fn radixInit(@builtin(local_invocation_index) li: u32) {
  atomicStore(&hist[li], 0u);
  if (li == 0u) {
    state[0] = 0u;
    state[1] = p.k;
    state[2] = 0u;
  }
}

var<workgroup> lh: array<atomic<u32>, 256>;

// Histogram of the digit at `shift` over the keys whose higher digits match
// the prefix; grid-stride over `count` keys starting at `offset`.
@compute @workgroup_size(WG)
fn radixHistogram(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
  atomicStore(&lh[li], 0u);
  workgroupBarrier();
  let prefix = state[0];
  let high = select(0u, 0xffffffffu << (p.shift + 8u), p.shift < 24u);
  let stride = nwg.x * nwg.y * nwg.z * WG;
  for (var e = flatIndex(wid, nwg, li); e < p.count; e += stride) {
    let key = keys[p.offset + e] & p.keyMask;
    if ((key & high) == (prefix & high)) { atomicAdd(&lh[(key >> p.shift) & 255u], 1u); }
  }
  workgroupBarrier();
  let c = atomicLoad(&lh[li]);
  if (c > 0u) { atomicAdd(&hist[li], c); }
}

var<workgroup> scan: array<u32, 256>;

// Inclusive prefix sum of scan[0..WG) in place (Hillis–Steele); every
// invocation of the workgroup calls it, in uniform control flow.
fn scanInclusive(li: u32) {
  for (var off = 1u; off < WG; off = off * 2u) {
    var v = 0u;
    if (li >= off) { v = scan[li - off]; }
    workgroupBarrier();
    scan[li] = scan[li] + v;
    workgroupBarrier();
  }
}

// Picks the digit whose bin holds the wanted rank, extends the prefix, and
// clears the histogram for the next pass. One workgroup.
@compute @workgroup_size(WG)
fn radixPick(@builtin(local_invocation_index) li: u32) {
  let prefix = state[0];
  let rank = state[1];
  let c = atomicLoad(&hist[li]);
  scan[li] = c;
  workgroupBarrier();
  scanInclusive(li);
  let incl = scan[li];
  let excl = incl - c;
  atomicStore(&hist[li], 0u);
  if (c > 0u && excl <= rank && rank < incl) {
    state[0] = prefix | (li << p.shift);
    state[1] = rank - excl;
    state[2] = c;
  }
}

// ---------------------------------------------------------------------------
// SparseGPT unstructured: saliencies of block columns [i1, i1 + width) of the
// chunk's rows as keys (row-major, global rows), zero where a preserved mask
// already prunes; counter[1] counts those preserved zeros. udiag = diag(U).

fn existingBit(gr: u32, col: u32) -> u32 {
  return (existing[gr * p.existWords + col / 32u] >> (col % 32u)) & 1u;
}

@compute @workgroup_size(WG)
fn blockScores(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  let e = flatIndex(wid, nwg, li);
  if (e >= p.rows * p.width) { return; }
  let r = e / p.width;
  let i = e % p.width;
  let col = p.i1 + i;
  let x = w[r * p.cols + col];
  let d = udiag[col];
  var s = divRN(x * x, d * d);
#if PRESERVE
  if (existingBit(p.rowStart + r, col) == 1u) {
    s = 0.0;
    atomicAdd(&counter[1], 1u);
  }
#endif
  scores[(p.rowStart + r) * p.width + i] = bitcast<u32>(s);
}

// Block mask bits (row-major, `words` per row): score ≤ threshold. With
// PRESERVE the existing mask is kept as is unless the block's target count
// exceeds it (then the threshold mask, which contains it, is used).
@compute @workgroup_size(WG)
fn blockThresholdMask(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) li: u32) {
  let e = flatIndex(wid, nwg, li);
  if (e >= p.rows * p.words) { return; }
  let r = e / p.words;
  let wd = e % p.words;
  let gr = p.rowStart + r;
  let thresh = state[0];
  var useExisting = false;
#if PRESERVE
  useExisting = p.kTotal <= atomicLoad(&counter[1]);
#endif
  var bits = 0u;
  for (var b = 0u; b < 32u; b++) {
    let i = wd * 32u + b;
    if (i >= p.width) { break; }
    var m = scores[gr * p.width + i] <= thresh;
#if PRESERVE
    if (useExisting) { m = existingBit(gr, p.i1 + i) == 1u; }
#endif
    if (m) { bits = bits | (1u << b); }
  }
  mask[gr * p.words + wd] = bits;
}

// diag(U) of a row chunk of the [np, np] factor (SparseGPT's d per column).
@compute @workgroup_size(WG)
fn uDiagonal(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
  let r = flatIndex(wid, nwg, li);
  if (r >= p.rows) { return; }
  colRootOut[p.rowStart + r] = w[r * p.cols + p.rowStart + r];
}

// ---------------------------------------------------------------------------
// Magnitude pruning: zero every weight with |w| ≤ the selected threshold
// (mask_factory.py: keep scores > topk(k, largest=False)[-1]).

@compute @workgroup_size(WG)
fn applyThreshold(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
  let e = flatIndex(wid, nwg, li);
  if (e >= p.count) { return; }
  if ((bitcast<u32>(w[e]) & 0x7fffffffu) <= state[0]) { w[e] = 0.0; }
}

// Mask of existing zeros (1 = zero), row-major, `words` per row; counter[0]
// counts them (the current sparsity preserve_sparsity_mask checks).
@compute @workgroup_size(WG)
fn zeroMask(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
  let e = flatIndex(wid, nwg, li);
  if (e >= p.rows * p.words) { return; }
  let r = e / p.words;
  let wd = e % p.words;
  var bits = 0u;
  var zeros = 0u;
  for (var b = 0u; b < 32u; b++) {
    let c = wd * 32u + b;
    if (c >= p.cols) { break; }
    if (w[r * p.cols + c] == 0.0) {
      bits = bits | (1u << b);
      zeros += 1u;
    }
  }
  mask[(p.rowStart + r) * p.words + wd] = bits;
  if (zeros > 0u) { atomicAdd(&counter[0], zeros); }
}

// ConstantPruningModifier: mask of kept weights (1 = |w| > eps), and the
// re-application of such a mask (weights outside it set to 0).
@compute @workgroup_size(WG)
fn keepMask(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
  let e = flatIndex(wid, nwg, li);
  if (e >= p.rows * p.words) { return; }
  let r = e / p.words;
  let wd = e % p.words;
  var bits = 0u;
  for (var b = 0u; b < 32u; b++) {
    let c = wd * 32u + b;
    if (c >= p.cols) { break; }
    if (abs(w[r * p.cols + c]) > p.eps) { bits = bits | (1u << b); }
  }
  mask[(p.rowStart + r) * p.words + wd] = bits;
}

@compute @workgroup_size(WG)
fn applyKeepMask(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
  let e = flatIndex(wid, nwg, li);
  if (e >= p.rows * p.cols) { return; }
  let r = e / p.cols;
  let c = e % p.cols;
  if (((existing[(p.rowStart + r) * p.words + c / 32u] >> (c % 32u)) & 1u) == 0u) { w[e] = 0.0; }
}

// ---------------------------------------------------------------------------
// Wanda: sqrt(S_j), correctly rounded.

@compute @workgroup_size(WG)
fn columnRoots(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  let j = flatIndex(wid, nwg, li);
  if (j >= p.cols) { return; }
  colRootOut[j] = sqrtRn(colSq[j]);
}

// OWL's activation norms: acc_j += eps · sqrt(S_j) for one forward's column
// sums of squares S (llm-compressor adds (1/nsamples)·‖X_j‖ per call).
@compute @workgroup_size(WG)
fn accumulateRoots(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) li: u32) {
  let j = flatIndex(wid, nwg, li);
  if (j >= p.cols) { return; }
  colRootOut[j] = colRootOut[j] + p.eps * sqrtRn(colSq[j]);
}

fn metricKey(r: u32, j: u32) -> u32 {
  let a = abs(w[r * p.cols + j]);
#if WANDA
  return bitcast<u32>(a * colRoot[j]);
#else
  return bitcast<u32>(a);
#endif
}

var<workgroup> sel: array<u32, 4>;   // prefix, rank, equal count, running tie count

// Wanda unstructured: per row, zero the k smallest metrics, ties in column
// order (torch.sort(stable=True)). One workgroup per row of the chunk: a
// radix select in workgroup memory, then the ties in index order.
@compute @workgroup_size(WG)
fn wandaRows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let r = wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y;
  if (r >= p.rows) { return; }
  if (li == 0u) {
    sel[0] = 0u;
    sel[1] = p.k - 1u;
    sel[2] = 0u;
    sel[3] = 0u;
  }
  for (var step = 0u; step < 4u; step++) {
    let shift = 24u - 8u * step;
    atomicStore(&lh[li], 0u);
    workgroupBarrier();
    let prefix = sel[0];
    let high = select(0u, 0xffffffffu << (shift + 8u), shift < 24u);
    for (var j = li; j < p.cols; j += WG) {
      let key = metricKey(r, j);
      if ((key & high) == (prefix & high)) { atomicAdd(&lh[(key >> shift) & 255u], 1u); }
    }
    workgroupBarrier();
    if (li == 0u) {
      var acc = 0u;
      let rank = sel[1];
      for (var b = 0u; b < 256u; b++) {
        let c = atomicLoad(&lh[b]);
        if (c > 0u && acc <= rank && rank < acc + c) {
          sel[0] = prefix | (b << shift);
          sel[1] = rank - acc;
          sel[2] = c;
          break;
        }
        acc += c;
      }
    }
    workgroupBarrier();
  }
  let thresh = sel[0];
  // Keys equal to the threshold to prune: the first (rank + 1) in column order.
  let prune = workgroupUniformLoad(&sel[1]) + 1u;
  if (workgroupUniformLoad(&sel[2]) == prune) {
    // Every tie goes (the usual case): no ordering needed.
    for (var j = li; j < p.cols; j += WG) {
      if (metricKey(r, j) <= thresh) { w[r * p.cols + j] = 0.0; }
    }
    return;
  }
  for (var j0 = 0u; j0 < p.cols; j0 += WG) {
    let j = j0 + li;
    var key = 0xffffffffu;
    if (j < p.cols) { key = metricKey(r, j); }
    let eq = select(0u, 1u, key == thresh);
    // Inclusive scan of the tie flags of this slice.
    scan[li] = eq;
    workgroupBarrier();
    scanInclusive(li);
    let before = sel[3] + scan[li] - eq;
    if (j < p.cols && (key < thresh || (eq == 1u && before < prune))) { w[r * p.cols + j] = 0.0; }
    workgroupBarrier();
    if (li == WG - 1u) { sel[3] = sel[3] + scan[li]; }
    workgroupBarrier();
  }
}

// N:M: in every group of M consecutive columns of a row, zero the N smallest
// metrics (|W|·sqrt(S) with WANDA, |W| otherwise), ties to the lower column.
@compute @workgroup_size(WG)
fn nmPrune(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
  let e = flatIndex(wid, nwg, li);
  let groups = p.cols / p.pruneM;
  if (e >= p.rows * groups) { return; }
  let r = e / groups;
  let c0 = (e % groups) * p.pruneM;
  var keysOf: array<u32, MAXM>;
  for (var c = 0u; c < p.pruneM; c++) { keysOf[c] = metricKey(r, c0 + c); }
  var chosen = 0u;
  for (var n = 0u; n < p.pruneN; n++) {
    var best = MAXM;
    var bestK = 0u;
    for (var c = 0u; c < p.pruneM; c++) {
      if ((chosen & (1u << c)) == 0u && (best == MAXM || keysOf[c] < bestK)) {
        best = c;
        bestK = keysOf[c];
      }
    }
    chosen = chosen | (1u << best);
  }
  for (var c = 0u; c < p.pruneM; c++) {
    if ((chosen & (1u << c)) != 0u) { w[r * p.cols + c0 + c] = 0.0; }
  }
}
