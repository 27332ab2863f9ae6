// Exact f32 arithmetic and float bit manipulation shared by the
// quantization kernels (included by shaders/lib/fakequant.wgsl). WGSL's f32
// division is only accurate to 2.5 ULP and devices may flush subnormals, so
// the quantizers compute with these where compressed-tensors' result depends
// on correct rounding (compressed-tensors.md §8). No bindings, no overrides.

const KEY_ZERO: u32 = 0x80000000u;   // orderedKey(+0.0)
const KEY_POS_INF: u32 = 0xff800000u;
const KEY_NEG_INF: u32 = 0x007fffffu;

// Float bits -> u32 key whose unsigned order is the float order (NaN sorts
// beyond ±Inf), so min/max can use integer atomics.
fn orderedKey(b: u32) -> u32 {
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn fromKey(k: u32) -> u32 {
  return select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u);
}

struct Unpacked {
  m: u32,   // significand in [2^23, 2^24)
  e: i32,   // unbiased exponent: value = m * 2^(e - 23)
}

fn unpackNorm(a: u32) -> Unpacked {
  let ef = a >> 23u;
  if (ef == 0u) {
    let mant = a & 0x7fffffu;
    let s = countLeadingZeros(mant) - 8u;
    return Unpacked(mant << s, -126 - i32(s));
  }
  return Unpacked((a & 0x7fffffu) | 0x800000u, i32(ef) - 127);
}

// Rounds value = (q / 2^24) * 2^(be - 127) to nearest-even f32, where q holds
// the 24-bit significand and one guard bit (q in [2^24, 2^25)) and `sticky`
// says whether anything nonzero lies below the guard bit.
fn packRounded(sign: u32, beIn: i32, qIn: u32, stickyIn: bool) -> f32 {
  var be = beIn;
  var q = qIn;
  var sticky = stickyIn;
  if (be >= 255) { return bitcast<f32>(sign | 0x7f800000u); }
  if (be <= 0) {
    let sh = u32(1 - be);
    if (sh >= 26u) { return bitcast<f32>(sign); }
    sticky = sticky || ((q & ((1u << sh) - 1u)) != 0u);
    q = q >> sh;
    be = 0;
  }
  let guard = q & 1u;
  var sig = q >> 1u;
  if (guard == 1u && (sticky || (sig & 1u) == 1u)) { sig = sig + 1u; }
  if (be == 0) { return bitcast<f32>(sign | sig); }
  // A carry out of the significand moves into the exponent field by itself.
  return bitcast<f32>(sign | ((u32(be) << 23u) + sig - 0x800000u));
}

// Correctly rounded x / y for finite x and finite nonzero y, subnormals included.
fn divRN(x: f32, y: f32) -> f32 {
  let xb = bitcast<u32>(x);
  let yb = bitcast<u32>(y);
  let sign = (xb ^ yb) & 0x80000000u;
  let xa = xb & 0x7fffffffu;
  let ya = yb & 0x7fffffffu;
  if (xa == 0u) { return bitcast<f32>(sign); }
  if (ya == 0u) { return bitcast<f32>(sign | 0x7f800000u); }
  let ux = unpackNorm(xa);
  let uy = unpackNorm(ya);
  var n = ux.m;
  var e = ux.e - uy.e;
  if (n < uy.m) { n = n << 1u; e = e - 1; }
  // q = floor(n · 2^24 / m) in [2^24, 2^25) with its remainder, from the
  // hardware quotient of the (exact) f32 significands, which is within a few
  // units of q: the remainder of that estimate is small enough for i32 and
  // is computed exactly modulo 2^32, then q is corrected. No loop, so a SIMD
  // adapter pays ~20 operations instead of 25 shift-subtract rounds.
  let m = uy.m;
  let mf = f32(m);
  var q = u32(f32(n) / mf * 16777216.0);
  var r = bitcast<i32>((n << 24u) - q * m);
  let k = i32(floor(f32(r) / mf));
  q = u32(i32(q) + k);
  r = r - k * i32(m);
  q = select(q, q - 1u, r < 0);
  r = select(r, r + i32(m), r < 0);
  q = select(q, q + 1u, r >= i32(m));
  r = select(r, r - i32(m), r >= i32(m));
  return packRounded(sign, e + 127, q, r != 0);
}

// Correctly rounded x * y computed with integers (48-bit product in two words).
fn mulExact(x: f32, y: f32) -> f32 {
  let xb = bitcast<u32>(x);
  let yb = bitcast<u32>(y);
  let sign = (xb ^ yb) & 0x80000000u;
  let xa = xb & 0x7fffffffu;
  let ya = yb & 0x7fffffffu;
  if (xa == 0u || ya == 0u) { return bitcast<f32>(sign); }
  let ux = unpackNorm(xa);
  let uy = unpackNorm(ya);
  let a0 = ux.m & 0xffffu;
  let a1 = ux.m >> 16u;
  let b0 = uy.m & 0xffffu;
  let b1 = uy.m >> 16u;
  let lo = a0 * b0;
  let mid = a0 * b1 + a1 * b0;
  let lo2 = lo + (mid << 16u);
  let hi = a1 * b1 + (mid >> 16u) + select(0u, 1u, lo2 < lo);
  // product P = hi * 2^32 + lo2 in [2^46, 2^48); value = P * 2^(ex + ey - 46)
  if (hi >= 0x8000u) {
    return packRounded(sign, ux.e + uy.e + 128, (hi << 9u) | (lo2 >> 23u), (lo2 & 0x7fffffu) != 0u);
  }
  return packRounded(sign, ux.e + uy.e + 127, (hi << 10u) | (lo2 >> 22u), (lo2 & 0x3fffffu) != 0u);
}

fn isNormalBits(a: u32) -> bool {
  return a >= 0x00800000u && a < 0x7f800000u;
}

// Correctly rounded product: the hardware multiplication (exact per WGSL)
// unless an operand or the result is subnormal, where flushing may happen.
fn mulRN(x: f32, y: f32) -> f32 {
  let xa = bitcast<u32>(x) & 0x7fffffffu;
  let ya = bitcast<u32>(y) & 0x7fffffffu;
  if (xa == 0u || ya == 0u) { return bitcast<f32>((bitcast<u32>(x) ^ bitcast<u32>(y)) & 0x80000000u); }
  let r = x * y;
  if (isNormalBits(xa) && isNormalBits(ya) && isNormalBits(bitcast<u32>(r) & 0x7fffffffu)) { return r; }
  return mulExact(x, y);
}

// Correctly rounded a + b for non-negative finite a, b given as bits.
fn addPos(aIn: u32, bIn: u32) -> f32 {
  let a = max(aIn, bIn);
  let b = min(aIn, bIn);
  if (b == 0u) { return bitcast<f32>(a); }
  if ((a >> 23u) == 0u) { return bitcast<f32>(a + b); }   // two subnormals add exactly
  let ea = a >> 23u;
  let ebf = b >> 23u;
  let eb = max(ebf, 1u);
  let ma = ((a & 0x7fffffu) | 0x800000u) << 6u;
  let mb = ((b & 0x7fffffu) | select(0u, 0x800000u, ebf != 0u)) << 6u;
  let d = ea - eb;
  if (d > 28u) { return bitcast<f32>(a); }
  var sticky = (mb & ((1u << d) - 1u)) != 0u;
  var s = ma + (mb >> d);
  var e = ea;
  if (s >= (1u << 30u)) { sticky = sticky || ((s & 1u) != 0u); s = s >> 1u; e = e + 1u; }
  var sig = s >> 6u;
  let guard = (s >> 5u) & 1u;
  let rest = ((s & 31u) != 0u) || sticky;
  if (guard == 1u && (rest || (sig & 1u) == 1u)) { sig = sig + 1u; }
  // A sum past the largest finite f32 rounds to +inf (IEEE); min() keeps it
  // there instead of running into NaN bit patterns.
  return bitcast<f32>(min((e << 23u) + sig - 0x800000u, 0x7f800000u));
}

fn f32ToF16Bits(b: u32) -> u32 {
  let sign = (b >> 16u) & 0x8000u;
  let a = b & 0x7fffffffu;
  if (a > 0x7f800000u) { return sign | 0x7e00u; }
  if (a >= 0x477ff000u) { return sign | 0x7c00u; }
  if (a >= 0x38800000u) {
    let r = a + 0xfffu + ((a >> 13u) & 1u);
    return sign | (((r >> 13u) - (112u << 10u)) & 0x7fffu);
  }
  if (a <= 0x33000000u) { return sign; }
  return sign | significandShiftRNE(a, 126u);
}

// The significand of the normal f32 with magnitude bits `a`, shifted right by
// `base` minus its exponent and rounded half to even: the mantissa field of a
// narrower format's subnormal (f16: base 126; e4m3: base 141). 1 ≤ shift ≤ 24.
fn significandShiftRNE(a: u32, base: u32) -> u32 {
  let sig = (a & 0x7fffffu) | 0x800000u;
  let sh = base - (a >> 23u);
  let q = sig >> sh;
  let rem = sig & ((1u << sh) - 1u);
  let half = 1u << (sh - 1u);
  if (rem > half || (rem == half && (q & 1u) == 1u)) { return q + 1u; }
  return q;
}

fn f16BitsToF32(h: u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) {
    // m * 2^-24 is a normal f32: an exact product of an integer and a power of two.
    let v = f32(m) * 5.9604644775390625e-8;
    return bitcast<f32>(sign | bitcast<u32>(v));
  }
  if (e == 31u) { return bitcast<f32>(sign | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}

// Rounds an f32 result to the model dtype (round-to-nearest-even), as torch
// stores every bf16/f16 op's f32 result.
fn roundDt(x: f32, dt: u32) -> f32 {
  if (dt == 0u) { return x; }
  let b = bitcast<u32>(x);
  if (dt == 2u) {
    if ((b & 0x7fffffffu) > 0x7f800000u) { return x; }
    return bitcast<f32>((b + 0x7fffu + ((b >> 16u) & 1u)) & 0xffff0000u);
  }
  return f16BitsToF32(f32ToF16Bits(b));
}
