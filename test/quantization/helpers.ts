import type { Hardware } from '../../src/gpu/hardware.js';
import { Tensor } from '../../src/gpu/tensor.js';
import type { QuantizationArgs } from '../../src/quantization/args.js';
import { f32Bits, roundBf16, roundF16, type ComputeDtype } from '../../src/quantization/numerics.js';
import { referencePackBytes, referencePackInt32, referenceQuantize, type ReferenceOptions, type ReferenceResult } from '../../src/quantization/reference.js';
import { quantizeWeightGpu, readQuantizedWeight, type QuantizeWeightOptions, type QuantizedWeight, type GpuQuantizedWeight } from '../../src/quantization/quantizeWeight.js';
import { rng, randn } from '../helpers/random.js';

/** Rounds every value to `dtype` (so it is an exact weight of that dtype). */
export function toDtype(w: Float32Array, dtype: ComputeDtype): Float32Array {
  if (dtype === 'f32') return w;
  const f = dtype === 'bf16' ? roundBf16 : roundF16;
  return w.map((x) => f(x));
}

/**
 * A random weight with the edge cases compressed-tensors' math is sensitive
 * to planted in it: an all-zero group, a constant group, a group whose
 * maximum equals minus its minimum (±amax ties), subnormal values (alone and
 * in a group of their own), values on FP4/FP8 thresholds after scaling.
 */
export function edgyWeight(rows: number, cols: number, seed: number, groupCols: number, dtype: ComputeDtype = 'f32'): Float32Array {
  const r = rng(seed ^ 0x5bd1e995);
  const w = randn(rows * cols, seed, 0.05);
  const gc = Math.max(1, Math.min(groupCols, cols));
  const at = (row: number, c: number): number => (row % rows) * cols + (c % cols);
  if (rows > 3 && cols >= gc) {
    for (let c = 0; c < gc; c++) w[at(1, c)] = 0; // all-zero group
    for (let c = 0; c < gc; c++) w[at(2, c)] = 0.0123; // constant group
    for (let c = 0; c < gc; c++) w[at(3, c)] = 1e-40 * (1 + (c % 7)) * (c % 2 ? -1 : 1); // subnormal group
  }
  for (let i = 0; i < Math.min(rows, 64); i++) {
    const row = (i * 7 + 4) % rows;
    const c = Math.floor(r() * cols);
    const peer = (c + 1 + Math.floor(r() * (gc - 1))) % cols;
    if (Math.floor(c / gc) === Math.floor(peer / gc)) {
      // ±amax tie inside one group: −amax divides to exactly −(range/2).
      w[at(row, peer)] = -Math.abs(w[at(row, c)]) * 4;
      w[at(row, c)] = Math.abs(w[at(row, c)]) * 4;
    }
    w[at(row + 1, Math.floor(r() * cols))] = (r() < 0.5 ? -1 : 1) * 3e-39; // lone subnormal
    w[at(row + 2, Math.floor(r() * cols))] = -0; // negative zero
  }
  return toDtype(w, dtype);
}

/** Per-element codes from GPU-packed words, in the reference's convention. */
export function decodeCodes(q: QuantizedWeight): Int32Array {
  const { rows, cols } = q.geometry;
  const out = new Int32Array(rows * cols);
  const b = q.bits;
  const mask = 2 ** b - 1;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const bit = c * b;
      const wi = r * q.rowWords + (bit >>> 5);
      const s = bit & 31;
      let u = q.packed[wi] >>> s;
      if (s + b > 32) u |= q.packed[wi + 1] << (32 - s);
      u = (u & mask) >>> 0;
      let code: number;
      if (q.layout === 'int32') code = u - 2 ** (b - 1);
      else if (q.args.type === 'int') code = u >= 128 ? u - 256 : u;
      else code = u;
      out[r * cols + c] = code;
    }
  }
  return out;
}

/** Row-compacted bytes of a bytes-layout weight (rows padded to words on the GPU). */
export function compactBytes(q: QuantizedWeight): Uint8Array {
  const { rows, cols } = q.geometry;
  const rowBytes = (cols * q.bits) / 8;
  const src = new Uint8Array(q.packed.buffer, q.packed.byteOffset, q.packed.byteLength);
  const out = new Uint8Array(rows * rowBytes);
  for (let r = 0; r < rows; r++) out.set(src.subarray(r * q.rowWords * 4, r * q.rowWords * 4 + rowBytes), r * rowBytes);
  return out;
}

export interface RunOptions extends QuantizeWeightOptions, Pick<ReferenceOptions, 'fusedAbsMax'> {
  /** Bytes per weight chunk (forces chunking). */
  maxChunkBytes?: number;
}

/** Quantizes on the GPU (outputs poisoned first) and with the reference. */
export async function runBoth(hw: Hardware, w: Float32Array, rows: number, cols: number, args: QuantizationArgs, opts: RunOptions = {}): Promise<{ gpu: QuantizedWeight; ref: ReferenceResult; raw: GpuQuantizedWeight }> {
  const t = Tensor.fromData(hw, w, [rows, cols], 'f32', { maxChunkBytes: opts.maxChunkBytes });
  const raw = quantizeWeightGpu(hw, t, args, { fake: true, poisonOutputs: true, ...opts });
  let gpu: QuantizedWeight;
  try {
    gpu = await readQuantizedWeight(raw);
  } finally {
    raw.dispose();
    t.dispose();
  }
  const ref = referenceQuantize(w, rows, cols, args, { dtype: opts.dtype, scaleDivision: opts.scaleDivision, fusedAbsMax: opts.fusedAbsMax });
  return { gpu, ref, raw };
}

function hex(x: number): string {
  return '0x' + (f32Bits(x) >>> 0).toString(16).padStart(8, '0');
}

/**
 * Asserts GPU == reference: codes identical, packed bytes identical to the
 * reference packing, scales / zero points / global scale bit-identical
 * (tighter than the 1-ulp budget), fake-quantized values identical.
 */
export function expectSame(label: string, gpu: QuantizedWeight, ref: ReferenceResult): void {
  const { rows, cols } = gpu.geometry;
  const fail = (what: string): never => {
    throw new Error(`${label}: ${what}`);
  };
  for (let i = 0; i < ref.scales.length; i++) {
    if (f32Bits(gpu.scales[i]) !== f32Bits(ref.scales[i])) fail(`scale ${i}: gpu ${gpu.scales[i]} (${hex(gpu.scales[i])}) ref ${ref.scales[i]} (${hex(ref.scales[i])}) [min ${ref.observedMin[i]} max ${ref.observedMax[i]}]`);
  }
  if (ref.zeroPoints) {
    for (let i = 0; i < ref.zeroPoints.length; i++) if (gpu.zeroPoints?.[i] !== ref.zeroPoints[i]) fail(`zero point ${i}: gpu ${gpu.zeroPoints?.[i]} ref ${ref.zeroPoints[i]}`);
  }
  if (ref.globalScale !== null && f32Bits(gpu.globalScale ?? NaN) !== f32Bits(ref.globalScale)) fail(`global scale: gpu ${gpu.globalScale} ref ${ref.globalScale}`);
  const codes = decodeCodes(gpu);
  for (let i = 0; i < rows * cols; i++) {
    if (codes[i] !== ref.codes[i]) {
      const gi = Math.floor(Math.floor(i / cols) / gpu.geometry.groupRows) * gpu.geometry.nGroupCols + Math.floor((i % cols) / gpu.geometry.groupCols);
      fail(`code [${Math.floor(i / cols)}, ${i % cols}]: gpu ${codes[i]} ref ${ref.codes[i]} (scale ${ref.scales[gi]}, zp ${ref.zeroPoints?.[gi] ?? 0})`);
    }
  }
  if (gpu.fake) {
    for (let i = 0; i < rows * cols; i++) {
      if (f32Bits(gpu.fake[i]) !== f32Bits(ref.fake[i])) fail(`fake [${Math.floor(i / cols)}, ${i % cols}]: gpu ${gpu.fake[i]} (${hex(gpu.fake[i])}) ref ${ref.fake[i]} (${hex(ref.fake[i])})`);
    }
  }
  if (gpu.layout === 'int32') {
    const words = referencePackInt32(ref.codes, rows, cols, gpu.bits);
    for (let i = 0; i < words.length; i++) if (gpu.packed[i] !== words[i]) fail(`packed word ${i}: gpu 0x${gpu.packed[i].toString(16)} ref 0x${words[i].toString(16)}`);
  } else {
    const bytes = referencePackBytes(ref.codes, rows, cols, gpu.bits as 4 | 8);
    const got = compactBytes(gpu);
    for (let i = 0; i < bytes.length; i++) if (got[i] !== bytes[i]) fail(`packed byte ${i}: gpu ${got[i]} ref ${bytes[i]}`);
  }
}
