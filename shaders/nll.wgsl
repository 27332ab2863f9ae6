// Fused log-softmax + negative log-likelihood over vocabulary logits:
//   nll[r] = logsumexp(logits[r, :]) − logits[r, target[r]]
// for one row block of logits [rows, V] (the caller projects hidden states to
// logits a row block at a time, so no more than one block of V-wide rows ever
// exists). One workgroup per row: each thread streams a strided share of the
// row with vec4 loads keeping a running (max, Σexp) pair, and the pairs are
// merged with a tree in workgroup memory (m = max(m1, m2);
// s = s1·e^(m1−m) + s2·e^(m2−m)). A target of 0xffffffff means "no target"
// (the last position of a window) and writes 0.

struct Params {
  rows: u32,
  v4: u32,          // vocabulary / 4
  outOffset: u32,   // first element of nll / target this block writes / reads
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> nll: array<f32>;

override WG: u32 = 256u;
const NONE: u32 = 0xffffffffu;
const LOWEST: f32 = -3.0e38;

var<workgroup> maxes: array<f32, WG>;
var<workgroup> sums: array<f32, WG>;

@compute @workgroup_size(WG)
fn logSoftmaxNll(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
  let row = wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y;
  if (row >= p.rows) { return; }
  let base = row * p.v4;
  var m = LOWEST;
  var s = 0.0;
  for (var i = li; i < p.v4; i += WG) {
    let x = logits[base + i];
    let mNew = max(m, max(max(x.x, x.y), max(x.z, x.w)));
    let e = exp(x - vec4<f32>(mNew));
    s = s * exp(m - mNew) + (e.x + e.y) + (e.z + e.w);
    m = mNew;
  }
  maxes[li] = m;
  sums[li] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (li < stride) {
      let m1 = maxes[li];
      let m2 = maxes[li + stride];
      let mm = max(m1, m2);
      sums[li] = sums[li] * exp(m1 - mm) + sums[li + stride] * exp(m2 - mm);
      maxes[li] = mm;
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    let tgt = targets[p.outOffset + row];
    var out = 0.0;
    if (tgt != NONE) {
      let x = logits[base + tgt / 4u];
      let logit = x[tgt % 4u];
      out = maxes[0] + log(sums[0]) - logit;
    }
    nll[p.outOffset + row] = out;
  }
}
