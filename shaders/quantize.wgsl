// Weight quantization: compressed-tensors' calculate_qparams, _quantize and
// _quantize_dequantize (compressed-tensors.md §4), dense bit packing (§3.1,
// §3.3) and llm-compressor's mse shrink search (llm-compressor.md §1.3).
//
// Layout: a weight [rows, cols] in row-major f32 (bound as raw u32 bits so
// subnormals survive even where the device flushes them in arithmetic).
// Work unit = a row segment of 32 consecutive elements starting at a column
// multiple of 32; it packs into exactly `bits` u32 words, so no two threads
// share an output word for any width 1..8. Rows are padded to whole words.
//
// Numerics. Every torch op is modelled in the dtype torch runs it in: f32 ops
// are correctly rounded, and for bf16/f16 models each result is rounded to the
// model dtype (`roundDt`). WGSL's f32 division is only accurate to 2.5 ULP and
// devices may flush subnormals, so:
//   - per-group divisions and the scale products use exact integer arithmetic
//     (divRN, mulRN, addPos);
//   - per element, x / scale is first computed with the hardware division; the
//     code is accepted when q·(1 ± 3 ulp) give the same code, otherwise the
//     quotient is recomputed exactly. Codes are step functions of the quotient,
//     so this equals rounding the exact quotient (compressed-tensors.md §8:
//     every group's maximum sits on a ±7.5 tie).
// Group min/max are kept as order-preserving u32 keys (see orderedKey);
// a NaN or ±Inf element shows up as a key beyond ±Inf and makes the group's
// scale NaN, which the host reports with the tensor's name.
//
// Entry points:
//   quantizeGroups   - groups of whole segments (group_size % 32 == 0,
//                      channel, block): the workgroup observes each group,
//                      computes its qparams and quantizes it in one dispatch.
//   quantizeSegments - one thread per row segment; groups inside a segment
//                      (group_size divides 32: NVFP4 16, MX 32) or qparams
//                      from min/max keys in `aux` (tensor strategy, others).
//   mseGroups / mseSegments - the shrink search; they record, per group, a
//                      bit per step that improved the group's error, and the
//                      OR over all groups (the early-stopping signal).

#if SUBGROUPS
enable subgroups;
#endif

struct Params {
  rows: u32,
  cols: u32,
  inRowBase: u32,
  outRowBase: u32,
  globalRowBase: u32,
  groupRows: u32,
  groupCols: u32,
  nGroupCols: u32,
  nGroups: u32,
  nUnits: u32,
  nWorkgroups: u32,
  tpg: u32,
  segsPerRow: u32,
  rowWords: u32,
  qmin: f32,
  qmax: f32,
  halfRange: f32,
  fullRange: f32,
  invHalfRange: f32,
  invFullRange: f32,
  mxOffset: u32,
  eps: f32,
  epsSearch: f32,
  mseSteps: u32,
  msePatience: u32,
  mseNorm: f32,
  mseExpand: f32,
  globalStatsOffset: u32,
  statsOffset: u32,
  maskOffset: u32,
  shrinkOffset: u32,
  zpOffset: u32,
  gsOffset: u32,
  errOffset: u32,
}

// Params field meanings:
//   rows/cols          rows this dispatch covers, weight columns
//   inRowBase          first covered row inside the bound weight (and fake) chunk
//   outRowBase         first covered row inside the bound packed chunk
//   globalRowBase      first covered row of the whole weight (a multiple of groupRows)
//   groupRows/Cols     group rectangle; nGroupCols groups per group-row; nGroups in the tensor
//   nUnits             groups (quantizeGroups, mseGroups) or segments (others) in this dispatch
//   tpg                threads per group (power of two), quantizeGroups / mseGroups
//   halfRange/fullRange  (qmax-qmin)/2 and qmax-qmin; inv*: f32(1/·) for reciprocalDiv
//   eps / epsSearch    replacement for a zero scale (final qparams / inside the mse search)
//   mse masks          aux[maskOffset] = OR of all groups' masks, aux[maskOffset + 1 + g] = group g's
//   globalStatsOffset  aux offset of the tensor-wide min/max keys (global scale)
//   zpOffset/gsOffset/errOffset  where zero points, the global scale and error partials go in qp

@group(0) @binding(0) var<uniform> p: Params;
#if VEC4
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;
#else
@group(0) @binding(1) var<storage, read> w: array<u32>;
#endif
@group(0) @binding(2) var<storage, read_write> packed: array<u32>;
@group(0) @binding(3) var<storage, read_write> qp: array<u32>;
@group(0) @binding(4) var<storage, read_write> fake: array<f32>;
@group(0) @binding(5) var<storage, read> aux: array<u32>;
@group(0) @binding(6) var<storage, read_write> masks: array<atomic<u32>>;

override WG: u32 = 256u;

// Specialisation: fixed per pipeline, so every branch on them folds away.
override QTYPE: u32 = 0u;          // 0 int, 1 FP8 E4M3, 2 FP4 E2M1
override BITS: u32 = 4u;           // packed field width
override PACK_MODE: u32 = 0u;      // 0: pack-quantized field q + 2^(BITS-1); 1: the code itself
override SYMMETRIC: bool = true;
override SCALE_KIND: u32 = 0u;     // 0 plain, 1 global scale (tensor_group), 2 MX power of two
override FP8_SCALE: bool = false;  // the global-scaled scale is rounded to FP8 E4M3 (NVFP4 scale_dtype)
override DTYPE: u32 = 0u;          // model dtype torch computes in: 0 f32, 1 f16, 2 bf16
override TDT: u32 = 0u;            // dtype of x / scale: DTYPE, or f32 with a global scale
override RECIPROCAL_DIV: bool = false; // tensor / python float as × f32(1/c) (torch on CUDA)
override STATS_MODE: u32 = 0u;     // 0 observe in-kernel, 1 min/max keys from aux[statsOffset + 2g]
override MSE: bool = false;        // apply the mse-selected shrink
override WRITE_FAKE: bool = false; // write the fake-quantized weight
override DIV_JITTER: bool = false; // test hook: perturb the hardware quotient by up to ±2 ulp

// Workgroup arrays are sized for the largest WG (a const, so every tool sizes them alike).
const WG_MAX: u32 = 256u;

const KEY_ZERO: u32 = 0x80000000u;   // orderedKey(+0.0)
const KEY_POS_INF: u32 = 0xff800000u;
const KEY_NEG_INF: u32 = 0x007fffffu;
const F32_MAX: f32 = 3.4028234663852886e38;

// Per-group minima are stored inverted so that zero-initialised workgroup
// memory is the identity of atomicMax for both.
var<workgroup> slotMinInv: array<atomic<u32>, WG_MAX>;
var<workgroup> slotMax: array<atomic<u32>, WG_MAX>;
var<workgroup> redF: array<f32, WG_MAX>;
var<workgroup> redG: array<f32, WG_MAX>;
var<workgroup> wgMask: atomic<u32>;
#if SUBGROUPS
var<workgroup> sgCount: atomic<u32>;
#endif

fn wgLinear(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y;
}

// ---------------------------------------------------------------- float bits

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
  var r = ux.m;
  var e = ux.e - uy.e;
  if (r < uy.m) { r = r << 1u; e = e - 1; }
  var q = 0u;
  for (var i = 0u; i < 25u; i = i + 1u) {
    q = q << 1u;
    if (r >= uy.m) { r = r - uy.m; q = q | 1u; }
    r = r << 1u;
  }
  return packRounded(sign, e + 127, q, r != 0u);
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
  let e = a >> 23u;
  let sig = (a & 0x7fffffu) | 0x800000u;
  let sh = 126u - e;
  let q = sig >> sh;
  let rem = sig & ((1u << sh) - 1u);
  let half = 1u << (sh - 1u);
  var m = q;
  if (rem > half || (rem == half && (q & 1u) == 1u)) { m = m + 1u; }
  return sign | m;
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

// tensor / python-float constant: an exact division on the CPU, a
// multiplication by f32(1/c) on CUDA (torch's div_true_kernel_cuda).
fn divScalar(x: f32, c: f32, invc: f32) -> f32 {
  if (RECIPROCAL_DIV) { return roundDt(mulRN(x, invc), DTYPE); }
  return roundDt(divRN(x, c), DTYPE);
}

// ---------------------------------------------------------------- FP8 / FP4

fn e4m3Encode(t: f32) -> u32 {
  let b = bitcast<u32>(t);
  let sign = (b >> 24u) & 0x80u;
  let a = b & 0x7fffffffu;
  if (a >= 0x3c800000u) {
    let r = a + 0x7ffffu + ((a >> 20u) & 1u);
    return sign | (((r >> 23u) - 120u) << 3u) | ((r >> 20u) & 7u);
  }
  if (a <= 0x3a800000u) { return sign; }
  let e = a >> 23u;
  let sig = (a & 0x7fffffu) | 0x800000u;
  let sh = 141u - e;
  let q = sig >> sh;
  let rem = sig & ((1u << sh) - 1u);
  let half = 1u << (sh - 1u);
  var m = q;
  if (rem > half || (rem == half && (q & 1u) == 1u)) { m = m + 1u; }
  return sign | m;
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

// ---------------------------------------------------------------- qparams

struct GroupParams {
  scale: f32,   // stored scale
  sEff: f32,    // scale the weight is divided by (scale / global_scale for NVFP4)
  zp: f32,      // zero point (0 when symmetric)
  rcp: f32,     // RN(1 / sEff): the fast path multiplies by it
  fast: u32,    // 1: sEff is a normal number, the hardware quotient may be tried
}

fn mxScale(amaxBits: u32) -> f32 {
  var p2: f32;
  if (DTYPE == 1u) {
    let h = f32ToF16Bits(amaxBits);
    p2 = f16BitsToF32((h + 256u) & 0xfc00u);
  } else {
    p2 = bitcast<f32>((amaxBits + (1u << 21u)) & 0xff800000u);
  }
  let pb = bitcast<u32>(p2);
  var ex = 0i;
  if (pb != 0u) {
    let k = unpackNorm(pb).e;
    ex = clamp(127 + k - i32(p.mxOffset), 0, 255);
  }
  // 2^(ex - 127) as f32 (2^-127 is the one subnormal), then in the model dtype.
  var s = bitcast<f32>(select(u32(ex) << 23u, 0x400000u, ex == 0));
  s = roundDt(s, DTYPE);
  // eps of the uint8 scale dtype is 1 (compressed-tensors' _get_dtype_eps).
  return select(s, 1.0, (bitcast<u32>(s) & 0x7fffffffu) == 0u);
}

fn globalScaleFromKeys(minKey: u32, maxKey: u32) -> f32 {
  let lo = fromKey(min(minKey, KEY_ZERO));
  let hi = fromKey(max(maxKey, KEY_ZERO));
  var a = max(lo & 0x7fffffffu, hi & 0x7fffffffu);
  let tiny = select(0x00800000u, 0x38800000u, DTYPE == 1u);
  a = max(a, tiny);
  let g = roundDt(mulRN(roundDt(divRN(1.0, bitcast<f32>(a)), DTYPE), 2688.0), DTYPE);
  let gb = bitcast<u32>(g) & 0x7fffffffu;
  return select(g, 1.0, gb >= 0x7f800000u);
}

// calculate_qparams (§4.2) for one group from its min/max as f32 bits.
// `search` drops the scale dtype and the global scale, as the mse search does
// for TENSOR_GROUP.
fn qparamsFromMinMax(loIn: u32, hiIn: u32, gs: f32, search: bool) -> GroupParams {
  let lo = fromKey(min(orderedKey(loIn), KEY_ZERO));
  let hi = fromKey(max(orderedKey(hiIn), KEY_ZERO));
  var gp: GroupParams;
  gp.zp = 0.0;
  var scale: f32;
  if (SYMMETRIC) {
    let amax = max(lo & 0x7fffffffu, hi & 0x7fffffffu);
    if (SCALE_KIND == 2u) {
      scale = mxScale(amax);
      gp.scale = scale;
      gp.sEff = scale;
      return withReciprocal(gp);
    }
    scale = divScalar(bitcast<f32>(amax), p.halfRange, p.invHalfRange);
  } else {
    let diff = roundDt(addPos(hi, lo & 0x7fffffffu), DTYPE);
    scale = divScalar(diff, p.fullRange, p.invFullRange);
    if ((bitcast<u32>(scale) & 0x7fffffffu) == 0u) {
      // 0/0 for an all-zero group (any zero point decodes it to 0); −x/0 = −inf otherwise.
      gp.zp = select(p.qmax, 0.0, (lo & 0x7fffffffu) == 0u);
    } else {
      let z = roundDt(p.qmin - roundDt(divRN(bitcast<f32>(lo), scale), DTYPE), DTYPE);
      gp.zp = clamp(z, p.qmin, p.qmax);
    }
    gp.zp = round(gp.zp);
  }
  let withGlobal = SCALE_KIND == 1u && !search;
  if (withGlobal) {
    scale = mulRN(gs, scale);
    if (FP8_SCALE) { scale = e4m3Decode(e4m3Encode(clamp(scale, -448.0, 448.0))); }
  }
  if ((bitcast<u32>(scale) & 0x7fffffffu) == 0u) { scale = select(p.eps, p.epsSearch, search); }
  gp.scale = roundDt(scale, DTYPE);
  if (withGlobal) {
    gp.sEff = divRN(gp.scale, gs);
  } else {
    gp.sEff = gp.scale;
  }
  return withReciprocal(gp);
}

// The fast path divides by multiplying with RN(1/sEff) (≤ 2.5 ulp from the
// correctly rounded quotient); it is allowed while sEff and 1/sEff are normal.
fn withReciprocal(gpIn: GroupParams) -> GroupParams {
  var gp = gpIn;
  let sb = bitcast<u32>(gp.sEff) & 0x7fffffffu;
  gp.fast = select(0u, 1u, isNormalBits(sb) && sb < 0x7e800000u);
  gp.rcp = select(0.0, divRN(1.0, gp.sEff), gp.fast == 1u);
  return gp;
}

fn qparamsFromKeys(minKey: u32, maxKey: u32, gs: f32, search: bool) -> GroupParams {
  return qparamsFromMinMax(fromKey(minKey), fromKey(maxKey), gs, search);
}

// ---------------------------------------------------------------- quantize

struct QOut {
  field: u32,   // value written into the packed stream
  value: f32,   // quantized value minus the zero point (what dequantization scales)
}

// Everything after the quotient: dtype rounding, + zero point, clamp, round
// to the target grid. A step function of the quotient t0.
fn codeOf(t0: f32, gp: GroupParams) -> QOut {
  var t = roundDt(t0, TDT);
  t = roundDt(t + gp.zp, TDT);
  // Adding the zero point (0 when symmetric) turns −0 into +0 in torch; done on
  // the bits, because a compiler may fold `t + 0.0` into `t` once zp is constant.
  t = bitcast<f32>(select(bitcast<u32>(t), 0u, (bitcast<u32>(t) & 0x7fffffffu) == 0u));
  t = clamp(t, p.qmin, p.qmax);
  if (QTYPE == 0u) {
    let q = round(t);
    let qi = i32(q);
    var field: u32;
    if (PACK_MODE == 0u) { field = u32(qi + (1i << (BITS - 1u))); } else { field = u32(qi) & 0xffu; }
    return QOut(field, q - gp.zp);
  }
  if (QTYPE == 1u) {
    let c = e4m3Encode(t);
    return QOut(c, e4m3Decode(c));
  }
  let c = fp4Encode(t);
  return QOut(c, fp4Decode(c));
}

// x / sEff rounded to the target grid, exactly as if the quotient were
// correctly rounded. The quotient q ≈ x · RN(1/sEff) is within 2.5 ulp of
// RN(x / sEff) (4.5 with the test jitter). The code is a step function of the
// quotient, so it is exact when no step lies within 6 ulp of q: checked with a
// margin test where the steps are known (f32 int codes: k ± 0.5; f32 FP8
// normals: the halfway bit pattern), else by comparing the codes of q ± 6 ulp.
// Otherwise the quotient is recomputed exactly (divRN).
fn quantizeValue(xb: u32, gp: GroupParams) -> QOut {
  let xa = xb & 0x7fffffffu;
  let sb = bitcast<u32>(gp.sEff);
  if (xa == 0u) { return codeOf(bitcast<f32>((xb ^ sb) & 0x80000000u), gp); }
  if (gp.fast == 1u && xa >= 0x00800000u) {
    var qb = bitcast<u32>(bitcast<f32>(xb) * gp.rcp);
    if (DIV_JITTER) { qb = u32(i32(qb) + i32((xb * 2654435761u) >> 29u) % 5i - 2i); }
    let qa = qb & 0x7fffffffu;
    if (qa >= 0x0d000000u && qa < 0x7f000000u) {
      let q = bitcast<f32>(qb);
      if (TDT == 0u && QTYPE == 0u) {
        let t = q + gp.zp;
        let k = round(t);
        // |q| < 512 keeps 6 ulp below 2^-11; beyond, t is clamped either way.
        if (abs(t) >= 512.0 || abs(t - k) < 0.5 - 4.8828125e-4) { return codeOf(q, gp); }
      } else if (TDT == 0u && QTYPE == 1u) {
        let ta = bitcast<u32>(clamp(q, p.qmin, p.qmax)) & 0x7fffffffu;
        // An FP8 normal rounds at bit 20 of the f32 pattern: away from the halfway point, q's error cannot flip it.
        let r = ta & 0xfffffu;
        if (ta >= 0x3c800000u && (r < 0x7fff0u || r > 0x80010u)) { return codeOf(q, gp); }
      } else {
        let c1 = codeOf(bitcast<f32>(qb - 6u), gp);
        let c2 = codeOf(bitcast<f32>(qb + 6u), gp);
        if (c1.field == c2.field) { return c1; }
      }
    }
  }
  return codeOf(divRN(bitcast<f32>(xb), gp.sEff), gp);
}

// Dequantized value in the model dtype (_quantize_dequantize then .to(dtype)).
fn dequantValue(q: QOut, gp: GroupParams) -> f32 {
  return roundDt(roundDt(mulRN(q.value, gp.sEff), TDT), DTYPE);
}

// ---------------------------------------------------------------- segments

fn loadSeg(base: u32, n: u32) -> array<u32, 32> {
  var v: array<u32, 32>;
#if VEC4
  let b4 = base >> 2u;
  for (var j = 0u; j < 8u; j = j + 1u) {
    if (4u * j < n) {
      let q = w[b4 + j];
      v[4u * j] = q.x;
      v[4u * j + 1u] = q.y;
      v[4u * j + 2u] = q.z;
      v[4u * j + 3u] = q.w;
    }
  }
#else
  for (var k = 0u; k < n; k = k + 1u) { v[k] = w[base + k]; }
#endif
  return v;
}

// Dense little-endian packing of 32 fields of `bits` bits: element k at bit k*bits.
fn storeFields(fields: array<u32, 32>, row: u32, seg: u32) {
  var words: array<u32, 8>;
  let b = BITS;
  for (var k = 0u; k < 32u; k = k + 1u) {
    let u = fields[k];
    let bit = k * b;
    let wi = bit >> 5u;
    let s = bit & 31u;
    words[wi] = words[wi] | (u << s);
    if (s + b > 32u) { words[wi + 1u] = words[wi + 1u] | (u >> (32u - s)); }
  }
  let first = seg * b;
  let n = min(b, p.rowWords - first);
  let base = (p.outRowBase + row) * p.rowWords + first;
  for (var j = 0u; j < n; j = j + 1u) { packed[base + j] = words[j]; }
}

// Sum of (a, b) over the whole workgroup, result valid in invocation 0.
fn workgroupSum2(li: u32, a: f32, b: f32
#if SUBGROUPS
  , sgLane: u32
#endif
) -> vec2<f32> {
#if SUBGROUPS
  let sa = subgroupAdd(a);
  let sb = subgroupAdd(b);
  if (sgLane == 0u) {
    let slot = atomicAdd(&sgCount, 1u);
    redF[slot] = sa;
    redG[slot] = sb;
  }
  workgroupBarrier();
  var r = vec2<f32>(0.0, 0.0);
  if (li == 0u) {
    let n = atomicLoad(&sgCount);
    for (var i = 0u; i < n; i = i + 1u) { r = r + vec2<f32>(redF[i], redG[i]); }
  }
  return r;
#else
  redF[li] = a;
  redG[li] = b;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (li < s) {
      redF[li] = redF[li] + redF[li + s];
      redG[li] = redG[li] + redG[li + s];
    }
    workgroupBarrier();
  }
  return vec2<f32>(redF[0], redG[0]);
#endif
}

fn writeErrors(li: u32, wgId: u32, sums: vec2<f32>) {
  if (li == 0u && wgId < p.nWorkgroups) {
    qp[p.errOffset + 2u * wgId] = bitcast<u32>(sums.x);
    qp[p.errOffset + 2u * wgId + 1u] = bitcast<u32>(sums.y);
  }
}

// The mse observer's choice for a group: the last step up to the global stop
// that improved it (none: the unshrunk range), as (min, max) bits.
fn mseSelect(loBits: u32, hiBits: u32, g: u32) -> vec2<u32> {
  let gmask = aux[p.maskOffset];
  var stop = p.mseSteps - 1u;
  var run = 0u;
  for (var i = 0u; i < p.mseSteps; i = i + 1u) {
    if (((gmask >> i) & 1u) == 1u) {
      run = 0u;
    } else {
      run = run + 1u;
      if (run >= p.msePatience) { stop = i; break; }
    }
  }
  let lo0 = roundDt(mulRN(bitcast<f32>(loBits), p.mseExpand), DTYPE);
  let hi0 = roundDt(mulRN(bitcast<f32>(hiBits), p.mseExpand), DTYPE);
  var m = aux[p.maskOffset + 1u + g];
  if (stop < 31u) { m = m & ((2u << stop) - 1u); }
  if (m == 0u) { return vec2<u32>(bitcast<u32>(lo0), bitcast<u32>(hi0)); }
  let best = 31u - countLeadingZeros(m);
  let f = bitcast<f32>(aux[p.shrinkOffset + best]);
  return vec2<u32>(bitcast<u32>(roundDt(mulRN(lo0, f), DTYPE)), bitcast<u32>(roundDt(mulRN(hi0, f), DTYPE)));
}

fn globalScale() -> f32 {
  if (SCALE_KIND != 1u) { return 1.0; }
  return globalScaleFromKeys(aux[p.globalStatsOffset], aux[p.globalStatsOffset + 1u]);
}

fn writeParams(g: u32, gp: GroupParams, minKey: u32, maxKey: u32) {
  // NaN marks a group with NaN/Inf for the host; the key check is exact.
  let bad = minKey <= KEY_NEG_INF || maxKey >= KEY_POS_INF;
  qp[g] = select(bitcast<u32>(gp.scale), 0x7fc00000u, bad);
  if (!SYMMETRIC) { qp[p.zpOffset + g] = bitcast<u32>(i32(gp.zp)); }
}

fn groupParamsFor(minKey: u32, maxKey: u32, g: u32, gs: f32) -> GroupParams {
  if (MSE && minKey <= maxKey) {
    let sel = mseSelect(fromKey(minKey), fromKey(maxKey), g);
    return qparamsFromMinMax(sel.x, sel.y, gs, false);
  }
  return qparamsFromKeys(minKey, maxKey, gs, false);
}

// ---------------------------------------------------------------- entry points

struct GroupSlot {
  live: u32,      // 1 when the slot holds a group (u32: bool struct members trip some WGSL tools)
  lane: u32,
  slot: u32,
  rowStart: u32,   // first row of the group, relative to the dispatch
  ghEff: u32,
  colStart: u32,
  spr: u32,        // segments per group row
  nSeg: u32,
  g: u32,          // global group index
}

// Results come back through pointers rather than return values: wgsl_reflect's
// lockstep race detector (1.6.0) shares a user function's return value among
// invocations, which would make every invocation use the last one's slot.
fn groupSlot(wgId: u32, li: u32, out: ptr<function, GroupSlot>) {
  let gpw = WG / p.tpg;
  let slot = li / p.tpg;
  let lg = wgId * gpw + slot;
  let live = select(0u, 1u, wgId < p.nWorkgroups && lg < p.nUnits);
  let gRow = lg / p.nGroupCols;
  let gc = lg % p.nGroupCols;
  let rowStart = gRow * p.groupRows;
  let colStart = gc * p.groupCols;
  var ghEff = 0u;
  var gwEff = 0u;
  if (live == 1u) {
    ghEff = min(p.groupRows, p.rows - rowStart);
    gwEff = min(p.groupCols, p.cols - colStart);
  }
  let spr = (gwEff + 31u) / 32u;
  *out = GroupSlot(live, li % p.tpg, slot, rowStart, ghEff, colStart, spr, ghEff * spr,
                   (p.globalRowBase / p.groupRows + gRow) * p.nGroupCols + gc);
}

// (row relative to the dispatch, first column, valid elements) of a group's i-th segment.
fn segmentOf(s: GroupSlot, i: u32, out: ptr<function, vec3<u32>>) {
  let r = s.rowStart + i / s.spr;
  let c0 = s.colStart + (i % s.spr) * 32u;
  let end = min(s.colStart + p.groupCols, p.cols);
  *out = vec3<u32>(r, c0, min(32u, end - c0));
}

fn observeGroup(s: GroupSlot) {
  var mn = 0xffffffffu;
  var mx = 0u;
  if (s.live == 1u) {
    for (var i = s.lane; i < s.nSeg; i = i + p.tpg) {
      var sg: vec3<u32>;
      segmentOf(s, i, &sg);
      let v = loadSeg((p.inRowBase + sg.x) * p.cols + sg.y, sg.z);
      for (var k = 0u; k < sg.z; k = k + 1u) {
        let key = orderedKey(v[k]);
        mn = min(mn, key);
        mx = max(mx, key);
      }
    }
    atomicMax(&slotMinInv[s.slot], ~mn);
    atomicMax(&slotMax[s.slot], mx);
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn quantizeGroups(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32
#if SUBGROUPS
                  , @builtin(subgroup_invocation_id) sgLane: u32
#endif
) {
  let wgId = wgLinear(wid, nwg);
  var s: GroupSlot;
  groupSlot(wgId, li, &s);
  observeGroup(s);
  let minKey = ~atomicLoad(&slotMinInv[s.slot]);
  let maxKey = atomicLoad(&slotMax[s.slot]);
  let gs = globalScale();
  let gp = groupParamsFor(minKey, maxKey, s.g, gs);
  if (s.live == 1u && s.lane == 0u) {
    writeParams(s.g, gp, minKey, maxKey);
    if (SCALE_KIND == 1u && s.g == 0u) { qp[p.gsOffset] = bitcast<u32>(gs); }
  }
  var e2 = 0.0;
  var x2 = 0.0;
  if (s.live == 1u) {
    for (var i = s.lane; i < s.nSeg; i = i + p.tpg) {
      var sg: vec3<u32>;
      segmentOf(s, i, &sg);
      let base = (p.inRowBase + sg.x) * p.cols + sg.y;
      let v = loadSeg(base, sg.z);
      var fields: array<u32, 32>;
      for (var k = 0u; k < sg.z; k = k + 1u) {
        let q = quantizeValue(v[k], gp);
        fields[k] = q.field;
        let x = bitcast<f32>(v[k]);
        // The error statistics need no exact rounding; the fake-quantized output does.
        var d = q.value * gp.sEff;
        if (WRITE_FAKE) {
          d = dequantValue(q, gp);
          fake[base + k] = d;
        }
        e2 = e2 + (x - d) * (x - d);
        x2 = x2 + x * x;
      }
      storeFields(fields, sg.x, sg.y / 32u);
    }
  }
#if SUBGROUPS
  writeErrors(li, wgId, workgroupSum2(li, e2, x2, sgLane));
#else
  writeErrors(li, wgId, workgroupSum2(li, e2, x2));
#endif
}

@compute @workgroup_size(WG)
fn quantizeSegments(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) li: u32
#if SUBGROUPS
                    , @builtin(subgroup_invocation_id) sgLane: u32
#endif
) {
  let wgId = wgLinear(wid, nwg);
  let t = wgId * WG + li;
  let live = wgId < p.nWorkgroups && t < p.nUnits;
  var e2 = 0.0;
  var x2 = 0.0;
  if (live) {
    let r = t / p.segsPerRow;
    let seg = t % p.segsPerRow;
    let c0 = seg * 32u;
    let n = min(32u, p.cols - c0);
    let R = p.globalRowBase + r;
    let base = (p.inRowBase + r) * p.cols + c0;
    let v = loadSeg(base, n);
    let gw = p.groupCols;
    // Groups inside the segment (statsMode 0): gw divides 32, so they start at c0.
    var subMinInv: array<u32, 32>;
    var subMax: array<u32, 32>;
    if (STATS_MODE == 0u) {
      for (var k = 0u; k < n; k = k + 1u) {
        let j = k / gw;
        let key = orderedKey(v[k]);
        subMinInv[j] = max(subMinInv[j], ~key);
        subMax[j] = max(subMax[j], key);
      }
    }
    let gs = globalScale();
    if (SCALE_KIND == 1u && t == 0u) { qp[p.gsOffset] = bitcast<u32>(gs); }
    var fields: array<u32, 32>;
    var cur = 0xffffffffu;
    var gp: GroupParams;
    for (var k = 0u; k < n; k = k + 1u) {
      let c = c0 + k;
      let g = (R / p.groupRows) * p.nGroupCols + c / gw;
      if (g != cur) {
        cur = g;
        var minKey: u32;
        var maxKey: u32;
        if (STATS_MODE == 0u) {
          minKey = ~subMinInv[k / gw];
          maxKey = subMax[k / gw];
        } else {
          minKey = aux[p.statsOffset + 2u * g];
          maxKey = aux[p.statsOffset + 2u * g + 1u];
        }
        gp = groupParamsFor(minKey, maxKey, g, gs);
        if (R % p.groupRows == 0u && c % gw == 0u) { writeParams(g, gp, minKey, maxKey); }
      }
      let q = quantizeValue(v[k], gp);
      fields[k] = q.field;
      let x = bitcast<f32>(v[k]);
      var d = q.value * gp.sEff;
      if (WRITE_FAKE) {
        d = dequantValue(q, gp);
        fake[base + k] = d;
      }
      e2 = e2 + (x - d) * (x - d);
      x2 = x2 + x * x;
    }
    storeFields(fields, r, seg);
  }
#if SUBGROUPS
  writeErrors(li, wgId, workgroupSum2(li, e2, x2, sgLane));
#else
  writeErrors(li, wgId, workgroupSum2(li, e2, x2));
#endif
}

// ---------------------------------------------------------------- mse search

// Error of one element under candidate qparams: |fq(x) − x|^norm in the model dtype.
fn mseError(xb: u32, gp: GroupParams) -> f32 {
  let q = quantizeValue(xb, gp);
  let fq = dequantValue(q, gp);
  let d = abs(roundDt(fq - bitcast<f32>(xb), DTYPE));
  if (d == 0.0) { return 0.0; }
  return roundDt(pow(d, p.mseNorm), DTYPE);
}

// The search kernels bind the aux buffer only as `masks` (a buffer cannot be
// bound writable and read-only in one dispatch), so shrink factors come from there.
fn candidate(lo0: f32, hi0: f32, i: u32) -> GroupParams {
  let f = bitcast<f32>(atomicLoad(&masks[p.shrinkOffset + i]));
  let lo = roundDt(mulRN(lo0, f), DTYPE);
  let hi = roundDt(mulRN(hi0, f), DTYPE);
  return qparamsFromMinMax(bitcast<u32>(lo), bitcast<u32>(hi), 1.0, true);
}

// Segmented sum over the tpg lanes of each group (a shared-memory tree: the
// lanes of a group are consecutive invocations, which subgroups do not
// promise to be).
fn groupSum(li: u32, lane: u32, x: f32) -> f32 {
  redF[li] = x;
  workgroupBarrier();
  for (var s = p.tpg / 2u; s > 0u; s = s >> 1u) {
    if (lane < s) { redF[li] = redF[li] + redF[li + s]; }
    workgroupBarrier();
  }
  let r = redF[li - lane];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn mseGroups(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let wgId = wgLinear(wid, nwg);
  var s: GroupSlot;
  groupSlot(wgId, li, &s);
  observeGroup(s);
  let minKey = ~atomicLoad(&slotMinInv[s.slot]);
  let maxKey = atomicLoad(&slotMax[s.slot]);
  let lo0 = roundDt(mulRN(bitcast<f32>(fromKey(minKey)), p.mseExpand), DTYPE);
  let hi0 = roundDt(mulRN(bitcast<f32>(fromKey(maxKey)), p.mseExpand), DTYPE);
  var best = F32_MAX;
  var mask = 0u;
  for (var i = 0u; i < p.mseSteps; i = i + 1u) {
    var err = 0.0;
    if (s.live == 1u) {
      let gp = candidate(lo0, hi0, i);
      for (var j = s.lane; j < s.nSeg; j = j + p.tpg) {
        var sg: vec3<u32>;
        segmentOf(s, j, &sg);
        let v = loadSeg((p.inRowBase + sg.x) * p.cols + sg.y, sg.z);
        for (var k = 0u; k < sg.z; k = k + 1u) { err = err + mseError(v[k], gp); }
      }
    }
    err = roundDt(groupSum(li, s.lane, err), DTYPE);
    if (err < best) {
      best = err;
      mask = mask | (1u << i);
    }
  }
  if (s.live == 1u && s.lane == 0u) {
    atomicStore(&masks[p.maskOffset + 1u + s.g], mask);
    atomicOr(&wgMask, mask);
  }
  workgroupBarrier();
  if (li == 0u) { atomicOr(&masks[p.maskOffset], atomicLoad(&wgMask)); }
}

@compute @workgroup_size(WG)
fn mseSegments(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  let wgId = wgLinear(wid, nwg);
  let t = wgId * WG + li;
  if (wgId < p.nWorkgroups && t < p.nUnits) {
    let r = t / p.segsPerRow;
    let seg = t % p.segsPerRow;
    let c0 = seg * 32u;
    let n = min(32u, p.cols - c0);
    let R = p.globalRowBase + r;
    let v = loadSeg((p.inRowBase + r) * p.cols + c0, n);
    let gw = p.groupCols;
    var anyMask = 0u;
    for (var k0 = 0u; k0 < n; k0 = k0 + gw) {
      let kn = min(k0 + gw, n);
      var mn = 0xffffffffu;
      var mx = 0u;
      for (var k = k0; k < kn; k = k + 1u) {
        let key = orderedKey(v[k]);
        mn = min(mn, key);
        mx = max(mx, key);
      }
      let lo0 = roundDt(mulRN(bitcast<f32>(fromKey(mn)), p.mseExpand), DTYPE);
      let hi0 = roundDt(mulRN(bitcast<f32>(fromKey(mx)), p.mseExpand), DTYPE);
      var best = F32_MAX;
      var mask = 0u;
      for (var i = 0u; i < p.mseSteps; i = i + 1u) {
        let gp = candidate(lo0, hi0, i);
        var err = 0.0;
        for (var k = k0; k < kn; k = k + 1u) { err = err + mseError(v[k], gp); }
        err = roundDt(err, DTYPE);
        if (err < best) {
          best = err;
          mask = mask | (1u << i);
        }
      }
      let g = R * p.nGroupCols + (c0 + k0) / gw;
      atomicStore(&masks[p.maskOffset + 1u + g], mask);
      anyMask = anyMask | mask;
    }
    atomicOr(&wgMask, anyMask);
  }
  workgroupBarrier();
  if (li == 0u) { atomicOr(&masks[p.maskOffset], atomicLoad(&wgMask)); }
}

// ---------------------------------------------------------------- self-test

// Exercises the exact-arithmetic helpers on pairs (a, b) = (w[2i], w[2i+1])
// for the tests: packed[8i..8i+8) = divRN(a, b), mulExact(a, b),
// addPos(|a|, |b|), a→f16, a→bf16, FP8 code of clamp(a, ±448), FP4 code of
// clamp(a, ±6), mulRN(a, b). `nUnits` pairs.
@compute @workgroup_size(WG)
fn arithmeticSelfTest(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) li: u32) {
  let i = wgLinear(wid, nwg) * WG + li;
  if (i >= p.nUnits) { return; }
#if VEC4
  let pair = w[i / 2u];
  let a = bitcast<f32>(select(pair.x, pair.z, (i & 1u) == 1u));
  let b = bitcast<f32>(select(pair.y, pair.w, (i & 1u) == 1u));
#else
  let a = bitcast<f32>(w[2u * i]);
  let b = bitcast<f32>(w[2u * i + 1u]);
#endif
  let o = 8u * i;
  packed[o] = bitcast<u32>(divRN(a, b));
  packed[o + 1u] = bitcast<u32>(mulExact(a, b));
  packed[o + 2u] = bitcast<u32>(addPos(bitcast<u32>(a) & 0x7fffffffu, bitcast<u32>(b) & 0x7fffffffu));
  packed[o + 3u] = bitcast<u32>(roundDt(a, 1u));
  packed[o + 4u] = bitcast<u32>(roundDt(a, 2u));
  packed[o + 5u] = e4m3Encode(clamp(a, -448.0, 448.0));
  packed[o + 6u] = fp4Encode(clamp(a, -6.0, 6.0));
  packed[o + 7u] = bitcast<u32>(mulRN(a, b));
}
