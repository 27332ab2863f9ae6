// Dense little-endian packing of signed integer codes into u32 words, as
// compressed-tensors' pack_to_int32 (compressed-tensors.md §3.1): each code
// becomes an unsigned field u = (q + offset) & (2^bits − 1) (offset 2^(bits−1)
// for pack-quantized weights and zero points, 0 for raw bytes), element e of a
// line occupies bits [e·bits, e·bits + bits) of the line's bit stream, fields
// may straddle two words (3, 5, 6, 7 bits), and padding is 0.
//
// packRows packs along the last dimension: [rows, cols] → [rows, ceil(cols·bits/32)].
// packColumns packs down the first (zero points, packed_dim = 0):
// [rows, cols] → [ceil(rows·bits/32), cols].
// One invocation per output word; it gathers the ≤ 33 fields that touch it.

struct Params {
  rows: u32,
  cols: u32,
  bits: u32,
  offset: u32,
  wordsPerLine: u32,   // words per packed line
  count: u32,          // output words
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> codes: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

override WG: u32 = 256u;

#include "lib/grid.wgsl"

// Word `j` of a line of `len` codes, code e read at codes[start + e * stride].
fn packWord(j: u32, len: u32, start: u32, stride: u32) -> u32 {
  let b = p.bits;
  let mask = (1u << b) - 1u;
  let first = (32u * j) / b;
  let last = min(len, (32u * j + 31u) / b + 1u);
  var word = 0u;
  for (var e = first; e < last; e = e + 1u) {
    let u = (bitcast<u32>(codes[start + e * stride]) + p.offset) & mask;
    let pos = i32(e * b) - i32(32u * j);
    if (pos < 0) {
      word = word | (u >> u32(-pos));
    } else {
      word = word | (u << u32(pos));
    }
  }
  return word;
}

@compute @workgroup_size(WG)
fn packRows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
  let i = linearWorkgroup(wid, nwg) * WG + li;
  if (i >= p.count) { return; }
  let r = i / p.wordsPerLine;
  let j = i % p.wordsPerLine;
  out[i] = packWord(j, p.cols, r * p.cols, 1u);
}

@compute @workgroup_size(WG)
fn packColumns(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  let i = linearWorkgroup(wid, nwg) * WG + li;
  if (i >= p.count) { return; }
  let j = i / p.cols;
  let c = i % p.cols;
  out[i] = packWord(j, p.rows, c, p.cols);
}
