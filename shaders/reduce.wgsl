// Segment reductions over f32 rows: sum, max, absmax, min-max.
// A row of `rowLen` values is cut into segments of `segLen` (per-row
// reduction: segLen = rowLen; per-group: segLen = group size; the last segment
// of a row may be shorter). One workgroup reduces one segment:
//   1. each invocation folds a private partial over a strided loop
//      (neighbouring invocations read neighbouring values: coalesced);
//   2. partials combine with subgroup operations and one slot per subgroup in
//      workgroup memory (SUBGROUPS), or a shared-memory tree (fallback).
// OP: 0 sum, 1 max, 2 absmax, 3 min-max (two outputs per segment: min, max).
// max/min of NaN is implementation-defined in WGSL; callers that must reject
// NaN check for it separately.

#if SUBGROUPS
enable subgroups;
#endif

struct Params {
  segments: u32,   // segments in this dispatch
  segLen: u32,
  rowLen: u32,
  segsPerRow: u32,
  outBase: u32,    // index of this dispatch's first segment in the output
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WG: u32 = 256u;
override OP: u32 = 0u;

// Infinities cannot be const-expressions in WGSL; build them at run time.
fn negInf() -> f32 { let bits = 0xff800000u; return bitcast<f32>(bits); }
fn posInf() -> f32 { let bits = 0x7f800000u; return bitcast<f32>(bits); }
// Enough slots for 1024 invocations in subgroups of 4 (the smallest seen).
const SLOTS: u32 = 256u;

var<workgroup> redA: array<f32, SLOTS>;
var<workgroup> redB: array<f32, SLOTS>;

fn identityA() -> f32 {
  if (OP == 0u) { return 0.0; }
  if (OP == 3u) { return posInf(); }
  return negInf();
}

fn combineA(u: f32, v: f32) -> f32 {
  if (OP == 0u) { return u + v; }
  if (OP == 3u) { return min(u, v); }
  return max(u, v);
}

fn lift(v: f32) -> f32 {
  if (OP == 2u) { return abs(v); }
  return v;
}

@compute @workgroup_size(WG)
fn reduceSegments(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32
#if SUBGROUPS
                  , @builtin(subgroup_invocation_id) sid: u32, @builtin(subgroup_size) ssize: u32
#endif
                  ) {
  let seg = wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y;
  // The whole workgroup takes the same branch, so barriers stay uniform.
  if (seg >= p.segments) { return; }
  let row = seg / p.segsPerRow;
  let g = seg % p.segsPerRow;
  let start = row * p.rowLen + g * p.segLen;
  let len = min(p.segLen, p.rowLen - g * p.segLen);

  var a = identityA();
  var b = negInf(); // running max for min-max
  for (var i = li; i < len; i += WG) {
    let v = lift(x[start + i]);
    a = combineA(a, v);
    b = max(b, v);
  }

#if SUBGROUPS
  // Subgroups are formed from consecutive invocation indices in a 1-D workgroup.
  var sa: f32;
  if (OP == 0u) { sa = subgroupAdd(a); } else if (OP == 3u) { sa = subgroupMin(a); } else { sa = subgroupMax(a); }
  let sb = subgroupMax(b);
  let nsub = (WG + ssize - 1u) / ssize;
  if (sid == 0u) {
    redA[li / ssize] = sa;
    redB[li / ssize] = sb;
  }
  workgroupBarrier();
  if (li == 0u) {
    var ra = redA[0];
    var rb = redB[0];
    for (var s = 1u; s < nsub; s++) {
      ra = combineA(ra, redA[s]);
      rb = max(rb, redB[s]);
    }
    if (OP == 3u) {
      out[2u * (p.outBase + seg)] = ra;
      out[2u * (p.outBase + seg) + 1u] = rb;
    } else {
      out[p.outBase + seg] = ra;
    }
  }
#else
  // WG is a power of two (checked by the wrapper); SLOTS >= WG.
  redA[li] = a;
  redB[li] = b;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) {
      redA[li] = combineA(redA[li], redA[li + s]);
      redB[li] = max(redB[li], redB[li + s]);
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    if (OP == 3u) {
      out[2u * (p.outBase + seg)] = redA[0];
      out[2u * (p.outBase + seg) + 1u] = redB[0];
    } else {
      out[p.outBase + seg] = redA[0];
    }
  }
#endif
}
