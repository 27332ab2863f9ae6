import type { RopeScaling } from './config.js';

/**
 * RoPE inverse frequencies θ^(-2i/d) for i < d/2, in float64, with Llama 3.1
 * scaling applied when configured: wavelengths longer than
 * `original_max_position_embeddings / low_freq_factor` are divided by
 * `factor`, shorter than `… / high_freq_factor` are kept, and the band
 * between is interpolated (transformers `_compute_llama3_parameters`).
 */
export function ropeInverseFrequencies(headDim: number, theta: number, scaling: RopeScaling): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / theta ** ((2 * i) / headDim);
  if (scaling.type === 'llama3') {
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: old } = scaling;
    const lowFreqWavelen = old / lowFreqFactor;
    const highFreqWavelen = old / highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen > lowFreqWavelen) {
        inv[i] = inv[i] / factor;
      } else if (wavelen >= highFreqWavelen) {
        const smooth = (old / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        inv[i] = (1 - smooth) * (inv[i] / factor) + smooth * inv[i];
      }
    }
  }
  return inv;
}

/**
 * cos and sin of `position · invFreq[i]` for positions [0, length), computed
 * in float64 and stored as f32 `[length, d/2]` tables (cos first, then sin,
 * in one array of 2·length·d/2 values). The GPU reads them instead of
 * evaluating sin/cos: WGSL only guarantees 2^-11 absolute accuracy for sin and
 * cos, and only on [-π, π], while angles reach thousands of radians.
 */
export function ropeTable(invFreq: Float64Array, length: number): Float32Array {
  const half = invFreq.length;
  const out = new Float32Array(2 * length * half);
  const sinBase = length * half;
  for (let p = 0; p < length; p++) {
    for (let i = 0; i < half; i++) {
      const a = p * invFreq[i];
      out[p * half + i] = Math.cos(a);
      out[sinBase + p * half + i] = Math.sin(a);
    }
  }
  return out;
}
