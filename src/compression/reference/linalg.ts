/**
 * float64 reference of the Hessian statistics and the inverse-Hessian factor
 * GPTQ and SparseGPT use (llm-compressor.md §6.1 steps 3–4, §6.2). Dense
 * row-major `Float64Array`s; short and slow on purpose: this is the spec the
 * GPU kernels are tested against.
 */

/** GPTQ's accumulation: H += 2·XᵀX for X [tokens, n] (divide by the sample count at the end). */
export function accumulateHessianSum(h: Float64Array, x: ArrayLike<number>, tokens: number, n: number): void {
  for (let t = 0; t < tokens; t++) {
    for (let i = 0; i < n; i++) {
      const xi = 2 * x[t * n + i];
      if (xi === 0) continue;
      for (let j = 0; j < n; j++) h[i * n + j] += xi * x[t * n + j];
    }
  }
}

/** SparseGPT's running average: H ← H·s/(s+k) + (2/(s+k))·XᵀX, where k sequences are added to s seen so far. */
export function accumulateHessianMean(h: Float64Array, samplesSoFar: number, samplesAdded: number, x: ArrayLike<number>, tokens: number, n: number): void {
  const total = samplesSoFar + samplesAdded;
  const keep = samplesSoFar / total;
  for (let i = 0; i < h.length; i++) h[i] *= keep;
  const add = new Float64Array(n * n);
  accumulateHessianSum(add, x, tokens, n);
  for (let i = 0; i < h.length; i++) h[i] += add[i] / total;
}

/** Wanda's running mean of per-column squared norms: S ← S·s/(s+k) + ‖X_j‖²/(s+k). */
export function accumulateColumnNorms(s: Float64Array, samplesSoFar: number, samplesAdded: number, x: ArrayLike<number>, tokens: number, n: number): void {
  const total = samplesSoFar + samplesAdded;
  for (let j = 0; j < n; j++) {
    let sq = 0;
    for (let t = 0; t < tokens; t++) sq += x[t * n + j] * x[t * n + j];
    s[j] = (s[j] * samplesSoFar) / total + sq / total;
  }
}

/**
 * Dead columns and dampening, in place: columns whose diagonal is 0 get
 * H[d,d] = 1 (their weights are zeroed by the caller), then every diagonal
 * entry grows by dampFrac·mean(diag H). Returns the dead flags and the damp.
 */
export function dampenHessian(h: Float64Array, n: number, dampFrac: number): { dead: boolean[]; damp: number } {
  const dead: boolean[] = [];
  let sum = 0;
  for (let i = 0; i < n; i++) {
    dead.push(h[i * n + i] === 0);
    if (dead[i]) h[i * n + i] = 1;
    sum += h[i * n + i];
  }
  const damp = (dampFrac * sum) / n;
  for (let i = 0; i < n; i++) h[i * n + i] += damp;
  return { dead, damp };
}

/** Lower Cholesky factor L (A = L·Lᵀ), or undefined when a pivot is not positive (torch's LinAlgError). */
export function choleskyLower(a: Float64Array, n: number): Float64Array | undefined {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    for (let k = 0; k < j; k++) d -= l[j * n + k] * l[j * n + k];
    if (!(d > 0)) return undefined;
    const ljj = Math.sqrt(d);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = s / ljj;
    }
  }
  return l;
}

/** Inverse of a lower-triangular matrix (lower-triangular). */
export function invertLower(l: Float64Array, n: number): Float64Array {
  const x = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    x[c * n + c] = 1 / l[c * n + c];
    for (let i = c + 1; i < n; i++) {
      let s = 0;
      for (let t = c; t < i; t++) s += l[i * n + t] * x[t * n + c];
      x[i * n + c] = -s / l[i * n + i];
    }
  }
  return x;
}

/** torch.cholesky_inverse: (L·Lᵀ)⁻¹ = L⁻ᵀ·L⁻¹ from the lower factor. */
export function choleskyInverse(l: Float64Array, n: number): Float64Array {
  const li = invertLower(l, n);
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = Math.max(i, j); k < n; k++) s += li[k * n + i] * li[k * n + j];
      out[i * n + j] = s;
    }
  }
  return out;
}

/** torch.linalg.cholesky(A, upper=True): U with A = Uᵀ·U, or undefined on failure. */
export function choleskyUpper(a: Float64Array, n: number): Float64Array | undefined {
  const l = choleskyLower(a, n);
  if (!l) return undefined;
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) u[i * n + j] = l[j * n + i];
  return u;
}

export interface InverseHessian {
  /** Upper Cholesky factor of (H + damp·I)⁻¹; the identity when the factorisation failed. */
  u: Float64Array;
  dead: boolean[];
  damp: number;
  /** False when a factorisation failed and `u` is the RTN fallback. */
  ok: boolean;
}

/**
 * llm-compressor's steps on an averaged Hessian (§6.1 3–4), on a copy:
 * dead columns, dampening, cholesky, cholesky_inverse, upper cholesky. On
 * failure the identity (round-to-nearest for this module).
 */
export function inverseHessianUpper(hIn: Float64Array, n: number, dampFrac: number): InverseHessian {
  const h = Float64Array.from(hIn);
  const { dead, damp } = dampenHessian(h, n, dampFrac);
  const l = choleskyLower(h, n);
  const u = l ? choleskyUpper(choleskyInverse(l, n), n) : undefined;
  if (u) return { u, dead, damp, ok: true };
  const eye = new Float64Array(n * n);
  for (let i = 0; i < n; i++) eye[i * n + i] = 1;
  return { u: eye, dead, damp, ok: false };
}

/** `argsort(diag(H), descending)`, ties in index order (a stable sort). */
export function activationOrder(h: ArrayLike<number>, n: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  return idx.sort((a, b) => h[b * n + b] - h[a * n + a] || a - b);
}

/** H[perm][:, perm]. */
export function permuteSymmetric(h: ArrayLike<number>, n: number, perm: readonly number[]): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = h[perm[i] * n + perm[j]];
  return out;
}
