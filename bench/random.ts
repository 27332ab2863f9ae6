/**
 * Seeded inputs for benchmarks: never zeros (a zero buffer can take fast
 * paths real weights do not), reproducible from the seed.
 */

/** A 32-bit xorshift step; state must not be 0. */
function next(s: number): number {
  s ^= s << 13;
  s ^= s >>> 17;
  s ^= s << 5;
  return s >>> 0;
}

/** Uniform values in [-scale, scale), from `seed`. */
export function randomF32(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = (seed ^ 0x9e3779b9) >>> 0 || 1;
  const k = (2 * scale) / 2 ** 32;
  for (let i = 0; i < n; i++) {
    s = next(s);
    out[i] = s * k - scale;
  }
  return out;
}

/**
 * Weight-like values: roughly normal (the sum of four uniforms) with standard
 * deviation `std`, so group absmax and scales look like a trained layer's.
 */
export function randomWeights(n: number, seed: number, std = 0.02): Float32Array {
  const out = new Float32Array(n);
  let s = (seed ^ 0x85ebca6b) >>> 0 || 1;
  // Sum of 4 uniforms on [0,1): mean 2, variance 1/3.
  const k = (std * Math.sqrt(3)) / 2 ** 32;
  for (let i = 0; i < n; i++) {
    let u = 0;
    for (let j = 0; j < 4; j++) {
      s = next(s);
      u += s;
    }
    out[i] = u * k - 2 * std * Math.sqrt(3);
  }
  return out;
}

/** Token ids in [0, vocab), from `seed`. */
export function randomIds(n: number, vocab: number, seed: number): Int32Array {
  const out = new Int32Array(n);
  let s = (seed ^ 0xc2b2ae35) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = next(s);
    out[i] = s % vocab;
  }
  return out;
}
