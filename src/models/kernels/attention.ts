import type { Hardware } from '../../gpu/hardware.js';
import { Tensor } from '../../gpu/tensor.js';
import { f32Buffer, nextPow2 } from './util.js';

/** Threads per workgroup of the attention kernel. */
const WG = 64;
/** Largest number of vec4 slices of a head one thread holds (MAX_NC in the shader). */
const MAX_NC = 8;

export interface AttentionShape {
  batch: number;
  /** Queries per sequence. */
  seqLen: number;
  /** Keys per sequence (default seqLen); the queries are the last seqLen positions. */
  kvLen?: number;
  qHeads: number;
  kvHeads: number;
  headDim: number;
  /** Sliding window in positions (keys with i − j < window are visible); null/0 for full causal. */
  window?: number | null;
}

/** Pipeline constants for a head size on this device: threads per query and key-tile size. */
export function attentionTiling(headDim: number, maxWorkgroupStorage: number): { tpq: number; bk: number; d4: number } {
  if (headDim % 4 !== 0) throw new Error(`attention: head_dim ${headDim} must be a multiple of 4`);
  const d4 = headDim / 4;
  const tpq = nextPow2(Math.ceil(d4 / MAX_NC));
  if (tpq > WG) throw new Error(`attention: head_dim ${headDim} is too large (at most ${4 * MAX_NC * WG})`);
  for (const bk of [32, 16, 8, 4]) {
    // K and V tiles (vec4) plus one partial score per thread and key.
    const bytes = 2 * bk * d4 * 16 + WG * bk * 4;
    if (bytes <= maxWorkgroupStorage) return { tpq, bk, d4 };
  }
  throw new Error(`attention: head_dim ${headDim} needs more workgroup memory than the device's ${maxWorkgroupStorage} bytes`);
}

/**
 * Causal (optionally sliding-window) grouped-query attention with an online
 * softmax: q/o [batch·seqLen, qHeads·d], k/v [batch·kvLen, kvHeads·d].
 */
export function causalAttention(hw: Hardware, q: Tensor, k: Tensor, v: Tensor, shape: AttentionShape, out?: Tensor): Tensor {
  const { batch, seqLen, qHeads, kvHeads, headDim } = shape;
  const kvLen = shape.kvLen ?? seqLen;
  if (kvLen < seqLen) throw new Error(`attention: kvLen ${kvLen} < seqLen ${seqLen}`);
  if (qHeads % kvHeads !== 0) throw new Error(`attention: ${kvHeads} kv heads do not divide ${qHeads} query heads`);
  if (q.numel !== batch * seqLen * qHeads * headDim) throw new Error(`attention: q [${q.shape.join(', ')}] is not [${batch}·${seqLen}, ${qHeads}·${headDim}]`);
  for (const [t, name] of [[k, 'k'], [v, 'v']] as const) {
    // One sequence may read the first kvLen rows of a longer cache tensor.
    const need = batch * kvLen * kvHeads * headDim;
    if (batch === 1 ? t.numel < need || t.numel % (kvHeads * headDim) !== 0 : t.numel !== need) {
      throw new Error(`attention: ${name} [${t.shape.join(', ')}] is not [${batch}·${kvLen}, ${kvHeads}·${headDim}]`);
    }
  }
  const { tpq, bk, d4 } = attentionTiling(headDim, hw.caps.maxComputeWorkgroupStorageSize);
  const bq = WG / tpq;
  const qBlocks = Math.ceil(seqLen / bq);
  const count = batch * qHeads * qBlocks;
  const o = out ?? Tensor.empty(hw, [batch * seqLen, qHeads * headDim], 'f32');
  hw.kernels.get({ shader: 'attention', entryPoint: 'attention', constants: { D4: d4, TPQ: tpq, BK: bk, WG } }).run(hw.batcher, {
    bindings: { q: f32Buffer(q, 'q', 'attention'), k: f32Buffer(k, 'k', 'attention'), v: f32Buffer(v, 'v', 'attention'), o: f32Buffer(o, 'out', 'attention') },
    uniforms: {
      seqLen, kvLen, qOffset: kvLen - seqLen, qHeads, kvHeads, window: shape.window ?? 0, qBlocks, count, scale: 1 / Math.sqrt(headDim),
    },
    workgroups: count,
  });
  return o;
}
