import { randn } from '../helpers/random.js';
import { accumulateHessianSum } from '../../src/compression/reference/linalg.js';

/**
 * A random symmetric positive definite "Hessian" 2·XᵀX/T with T = ratio·n
 * Gaussian samples, columns scaled by random factors in [0.5, 2) so the
 * diagonal (and the activation order) is not flat. Condition number ≈
 * ((1+√(1/ratio))/(1−√(1/ratio)))² times the column-scale spread (≤ 16).
 */
export function randomHessian(n: number, seed: number, ratio = 4): { h: Float64Array; x: Float32Array; tokens: number } {
  const tokens = ratio * n;
  const x = randn(tokens * n, seed);
  const scales = randn(n, seed + 1).map((v) => 0.5 + 1.5 * Math.abs(Math.tanh(v)));
  for (let t = 0; t < tokens; t++) for (let j = 0; j < n; j++) x[t * n + j] *= scales[j];
  const h = new Float64Array(n * n);
  accumulateHessianSum(h, x, tokens, n);
  for (let i = 0; i < h.length; i++) h[i] /= tokens;
  return { h, x, tokens };
}

/** The n×n top-left block of an np-wide row-major matrix. */
export function topLeft(m: ArrayLike<number>, np: number, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = m[i * np + j];
  return out;
}

/** Embeds an n×n matrix into a zero np×np one (row-major), as f32. */
export function padSquare(m: ArrayLike<number>, n: number, np: number): Float32Array {
  const out = new Float32Array(np * np);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * np + j] = m[i * n + j];
  return out;
}

export { expectNoRaces, relMaxError as relError } from '../helpers/races.js';
