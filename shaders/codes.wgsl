// Codes of a weight that already lies on its quantization grid (GPTQ's Q(W))
// from the qparams it was quantized with: compressed-tensors' `_quantize`
// with given scale / zero point / global scale (compressed-tensors.md §4.3),
// the step the checkpoint writer needs and that must never re-observe.
//   t = x / s_eff (s_eff = scale, or scale / global_scale for NVFP4),
//   t = t + zp, clamp to [qmin, qmax], then round half to even (int), the
//   E4M3 cast (FP8) or the E2M1 rounding (FP4); intermediates rounded to the
//   model dtype (bf16 / f16) as torch computes them.
// Because x = (q - zp) * s_eff up to the dtype's rounding, the quotient sits
// within a few ulp of a grid point, far from every rounding boundary, so the
// hardware division (2.5 ulp in WGSL) gives the exact code.
//
// Scale group of element (R, c): (R / rowsPerScale) * scaleCols + column group,
// where the column group is gIdx[c] (actorder group), c / divisor (group,
// tensor_group, block) or 0 (tensor, channel).
//
// Output: one byte per element (signed int8 two's complement, E4M3 byte, or
// E2M1 code 0-15), four per u32 word, element order row-major from the
// chunk's first row. One invocation per output word.

struct Params {
  rows: u32,        // rows of this chunk
  cols: u32,
  rowBase: u32,     // first row of the chunk in the whole weight
  nWords: u32,      // ceil(rows * cols / 4)
  rowsPerScale: u32,
  scaleCols: u32,
  divisor: u32,     // columns per scale column; 0: one scale column
  useGIdx: u32,
  qmin: f32,
  qmax: f32,
  tdt: u32,         // dtype of x / s_eff: 0 f32, 1 f16, 2 bf16
  hasZp: u32,
  hasGlobal: u32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> zp: array<i32>;
@group(0) @binding(4) var<storage, read> gIdx: array<i32>;
@group(0) @binding(5) var<storage, read> globalScale: array<f32>;
@group(0) @binding(6) var<storage, read_write> codes: array<u32>;

override WG: u32 = 256u;
override QTYPE: u32 = 0u; // 0 int, 1 FP8 E4M3, 2 FP4 E2M1

// bf16/f16 rounding (roundDt) and the E4M3 / E2M1 encoders, bit-exact with
// the quantizers that produced the grid.
#include "lib/floatbits.wgsl"
#include "lib/minifloat.wgsl"

fn codeOf(x: f32, r: u32, c: u32) -> u32 {
  var col = 0u;
  if (p.useGIdx == 1u) {
    col = u32(gIdx[c]);
  } else if (p.divisor != 0u) {
    col = c / p.divisor;
  }
  let si = ((p.rowBase + r) / p.rowsPerScale) * p.scaleCols + col;
  var s = scale[si];
  var dt = p.tdt;
  if (p.hasGlobal == 1u) {
    s = s / globalScale[0];
    dt = 0u;
  }
  var t = roundDt(x / s, dt);
  if (p.hasZp == 1u) { t = roundDt(t + f32(zp[si]), dt); }
  t = clamp(t, p.qmin, p.qmax);
  if (QTYPE == 0u) { return u32(i32(round(t))) & 0xffu; }
  if (QTYPE == 1u) { return e4m3Encode(t); }
  return fp4Encode(t);
}

@compute @workgroup_size(WG)
fn deriveCodes(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  let k = (wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y) * WG + li;
  if (k >= p.nWords) { return; }
  let n = p.rows * p.cols;
  var word = 0u;
  for (var j = 0u; j < 4u; j = j + 1u) {
    let e = 4u * k + j;
    if (e < n) {
      let r = e / p.cols;
      let c = e - r * p.cols;
      word = word | (codeOf(w[e], r, c) << (8u * j));
    }
  }
  codes[k] = word;
}

// Exact zeros of a tensor (the sparsity a pruning modifier left), added to
// counts[slot]. One invocation per element; the workgroup reduces before its
// one atomic.
struct CountParams {
  count: u32,
  slot: u32,
  _c0: u32,
  _c1: u32,
}

@group(0) @binding(7) var<uniform> cp: CountParams;
@group(0) @binding(8) var<storage, read> values: array<u32>;
@group(0) @binding(9) var<storage, read_write> counts: array<atomic<u32>>;

var<workgroup> wgZeros: atomic<u32>;

@compute @workgroup_size(WG)
fn countZeros(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y) * WG + li;
  // Compared as bits: a device that flushes subnormals must not count them.
  if (i < cp.count && (values[i] & 0x7fffffffu) == 0u) { atomicAdd(&wgZeros, 1u); }
  workgroupBarrier();
  if (li == 0u) {
    let z = atomicLoad(&wgZeros);
    if (z != 0u) { atomicAdd(&counts[cp.slot], z); }
  }
}
