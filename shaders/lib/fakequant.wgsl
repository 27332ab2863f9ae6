// compressed-tensors' fake quantization of one value: calculate_qparams
// (scale and zero point of a group from its min/max, §4.2, NVFP4 global
// scale §4.6, MX power-of-two scales) and _quantize / _dequantize (§4.3),
// with every torch op modelled in the dtype torch runs it in.
//
// Contract with the including kernel: it declares a uniform `p` whose struct
// has the members
//   qmin, qmax: f32          calculate_range
//   halfRange, fullRange: f32  (qmax - qmin) / 2 and qmax - qmin
//   invHalfRange, invFullRange: f32  f32(1/·), for RECIPROCAL_DIV
//   mxOffset: u32            MX exponent offset (2 for FP4, 8 for FP8)
//   eps, epsSearch: f32      replacement of a zero scale (final / mse search)
// and sets the overrides below as pipeline constants.

#include "lib/floatbits.wgsl"
#include "lib/minifloat.wgsl"

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
override DIV_JITTER: bool = false; // test hook: perturb the hardware quotient by up to ±2 ulp

// tensor / python-float constant: an exact division on the CPU, a
// multiplication by f32(1/c) on CUDA (torch's div_true_kernel_cuda).
fn divScalar(x: f32, c: f32, invc: f32) -> f32 {
  if (RECIPROCAL_DIV) { return roundDt(mulRN(x, invc), DTYPE); }
  return roundDt(divRN(x, c), DTYPE);
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

// The packed field of an int code q (an integer in [qmin, qmax]), read from
// the mantissa of q + 2^23 + offset (exact: an integer below 2^24) instead of
// through i32(q): a CPU adapter expands WGSL's saturating float-to-int
// conversion into a sequence that cost more than the rest of the quantizer.
fn intField(q: f32) -> u32 {
  if (PACK_MODE == 0u) { return bitcast<u32>(q + f32(0x800000u + (1u << (BITS - 1u)))) & ((1u << BITS) - 1u); }
  return bitcast<u32>(q + 8388864.0) & 0xffu;
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
    return QOut(intField(q), q - gp.zp);
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
