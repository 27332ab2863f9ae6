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

// e4m3Encode's rounding of a magnitude (f32 bits `a`, at most 448) without
// branches, for kernels where a SIMD adapter would run both sides anyway:
// normals round at bit 20 of the pattern, subnormals (below 2^−6, steps of
// 2^−9) through the mantissa of a + 2^14, whose ulp is 2^−9 — 2^−6 itself
// comes out as code 0x08, the smallest normal, as it should. The 7-bit
// magnitude code and its value.
struct E4m3Rounded {
  code: u32,
  value: f32,
}

fn e4m3RoundBits(a: u32) -> E4m3Rounded {
  let rn = a + 0x7ffffu + ((a >> 20u) & 1u);
  let steps = bitcast<u32>(bitcast<f32>(a) + 16384.0) - 0x46800000u;
  let normal = a >= 0x3c800000u;
  let code = select(steps, (((rn >> 23u) - 120u) << 3u) | ((rn >> 20u) & 7u), normal);
  // (A subnormal's value from its step count: a compiler may fold
  // (a + 2^14) − 2^14 into a.)
  let value = select(f32(i32(steps)) * 0.001953125, bitcast<f32>(rn & 0xfff00000u), normal);
  return E4m3Rounded(code, value);
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
