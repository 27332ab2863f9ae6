// Activation observers of llm-compressor (llm-compressor.md §1.3) that keep
// running state between calibration batches. The batch's tensor-wide min/max
// arrive as order-preserving u32 keys in words 0-1 of `state` (written by
// observe.wgsl's observeMinMax); this kernel folds them into the running
// values in words 2-3 (f32 bits), all on the GPU so calibration needs no host
// round trip per batch.
//
// emaMinMax: the `minmax` observer's moving average. The first batch is taken
// as is; later ones give past * (1 - c) + current * c, each product and the
// sum rounded to f32 as torch computes `_lerp` on f32 tensors.

struct Params {
  first: u32,      // 1 for the first observed batch
  c: f32,          // averaging_constant
  oneMinusC: f32,  // f32(1 - averaging_constant)
  _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> state: array<u32>;

fn fromKey(k: u32) -> u32 {
  return select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u);
}

// One invocation per statistic (0: min, 1: max); there is one value per module.
@compute @workgroup_size(2)
fn emaMinMax(@builtin(local_invocation_index) li: u32) {
  let current = bitcast<f32>(fromKey(state[li]));
  if (p.first == 1u) {
    state[2u + li] = bitcast<u32>(current);
    return;
  }
  let past = bitcast<f32>(state[2u + li]);
  let a = past * p.oneMinusC;
  let b = current * p.c;
  state[2u + li] = bitcast<u32>(a + b);
}
