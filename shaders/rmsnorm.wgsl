// RMSNorm over rows: y = x / sqrt(mean(x²) + eps) · weight (LlamaRMSNorm,
// Qwen3's per-head q/k norm). The RESIDUAL variant first adds a branch to the
// residual stream (sum = h + delta, written out as the new residual stream)
// and normalises the sum, so the residual add costs no pass of its own. It
// writes a new tensor rather than updating h in place so a layer never
// changes its input, which hooks may still read.
//
// Layout: rows of `n4` vec4s (row length a multiple of 4), contiguous.
// TPR threads cooperate on one row (a power of two ≤ WG); a workgroup holds
// WG / TPR rows, so short rows (a 128-wide head) do not leave most of a
// 256-thread workgroup idle. The sum of squares is reduced with a tree in
// workgroup memory within each row's TPR-thread segment.

struct Params {
  rows: u32,    // rows to normalise
  n4: u32,      // vec4s per row
  eps: f32,
  invN: f32,    // 1 / row length
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> weight: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;
#if RESIDUAL
@group(0) @binding(3) var<storage, read> h: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> delta: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> sum: array<vec4<f32>>;
#else
@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>;
#endif

override WG: u32 = 256u;
override TPR: u32 = 64u;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn rmsNorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
  let rowsPerGroup = WG / TPR;
  let group = wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y;
  let row = group * rowsPerGroup + li / TPR;
  let lane = li % TPR;
  // Threads past the last row still take part in the barriers below.
  let live = row < p.rows;
  let base = row * p.n4;
  var ss = 0.0;
  if (live) {
    for (var i = lane; i < p.n4; i += TPR) {
#if RESIDUAL
      let v = h[base + i] + delta[base + i];
      sum[base + i] = v;
#else
      let v = x[base + i];
#endif
      ss += dot(v, v);
    }
  }
  partial[li] = ss;
  workgroupBarrier();
  for (var stride = TPR / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) { partial[li] += partial[li + stride]; }
    workgroupBarrier();
  }
  if (!live) { return; }
  let inv = inverseSqrt(partial[li - lane] * p.invN + p.eps);
  for (var i = lane; i < p.n4; i += TPR) {
#if RESIDUAL
    let v = sum[base + i];
#else
    let v = x[base + i];
#endif
    y[base + i] = v * inv * weight[i];
  }
}
