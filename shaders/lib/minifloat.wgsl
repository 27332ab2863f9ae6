// FP8 E4M3 and FP4 E2M1 encoding, exactly as torch's float8_e4m3fn cast
// and compressed-tensors' cast_to_fp4 round (compressed-tensors.md §4.3).
// Pure functions on f32 bits; no bindings, no overrides.

#include "lib/floatbits.wgsl"

fn e4m3Encode(t: f32) -> u32 {
  let b = bitcast<u32>(t);
  let sign = (b >> 24u) & 0x80u;
  let a = b & 0x7fffffffu;
  if (a >= 0x3c800000u) {
    let r = a + 0x7ffffu + ((a >> 20u) & 1u);
    return sign | (((r >> 23u) - 120u) << 3u) | ((r >> 20u) & 7u);
  }
  if (a <= 0x3a800000u) { return sign; }
  return sign | significandShiftRNE(a, 141u);
}

fn e4m3Decode(c: u32) -> f32 {
  let sign = (c & 0x80u) << 24u;
  let e = (c >> 3u) & 15u;
  let m = c & 7u;
  if (e == 0u) { return bitcast<f32>(sign | bitcast<u32>(f32(m) * 0.001953125)); }
  return bitcast<f32>(sign | ((e + 120u) << 23u) | (m << 20u));
}

const FP4_VALUES = array<f32, 8>(0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0);

// cast_to_fp4 then pack_fp4_to_uint8's nibble: thresholds on |t| (ties to
// even on the E2M1 grid), sign from t * sign(t), so −0 only for negative t.
fn fp4Encode(t: f32) -> u32 {
  let b = bitcast<u32>(t);
  let a = bitcast<f32>(b & 0x7fffffffu);
  var idx = 0u;
  if (a > 0.25) { idx = idx + 1u; }
  if (a >= 0.75) { idx = idx + 1u; }
  if (a > 1.25) { idx = idx + 1u; }
  if (a >= 1.75) { idx = idx + 1u; }
  if (a > 2.5) { idx = idx + 1u; }
  if (a >= 3.5) { idx = idx + 1u; }
  if (a > 5.0) { idx = idx + 1u; }
  let neg = (b & 0x80000000u) != 0u && (b & 0x7fffffffu) != 0u;
  return idx | select(0u, 8u, neg);
}

fn fp4Decode(c: u32) -> f32 {
  let v = FP4_VALUES[c & 7u];
  return select(v, -v, (c & 8u) != 0u);
}
