import { expect } from 'vitest';
import { WgslReflect, ResourceType, detectRaces } from 'wgsl_reflect/wgsl_reflect.module.js';
import type { Hardware } from '../../src/gpu/hardware.js';
import type { KernelSpec, UniformValue } from '../../src/gpu/kernel.js';
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

/** max |got − want| / max |want| over the entries selected by `use`. */
export function relError(got: ArrayLike<number>, want: ArrayLike<number>, use: (i: number) => boolean = () => true): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    if (!use(i)) continue;
    if (!Number.isFinite(got[i])) return Infinity;
    num = Math.max(num, Math.abs(got[i] - want[i]));
    den = Math.max(den, Math.abs(want[i]));
  }
  return num / Math.max(den, 1e-30);
}

/**
 * Runs wgsl_reflect's race detector on an entry point (its preprocessed
 * WGSL, with `replace` applied to shrink sizes) and expects no data race and
 * no barrier divergence. Buffers are keyed by binding name.
 */
export function expectNoRaces(
  hw: Hardware,
  spec: KernelSpec,
  uniforms: Readonly<Record<string, UniformValue>>,
  buffers: Record<string, Float32Array | Uint32Array>,
  workgroups: number[],
  replace: [string | RegExp, string][] = [],
): { races: number } {
  const kernel = hw.kernels.get(spec);
  let wgsl = kernel.wgsl;
  for (const [a, b] of replace) {
    const next = wgsl.replace(a, b);
    if (next === wgsl) throw new Error(`expectNoRaces: pattern ${String(a)} not found`);
    wgsl = next;
  }
  // wgsl_reflect's interpreter returns wrong values from user functions used
  // as indices (every invocation sees the same one): inline the linear index.
  wgsl = wgsl.replace(/\blinear1d\(wid, nwg, li\)/g, '((wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y) * WG + li)');
  // The detector cannot size workgroup arrays by overrides: make them consts.
  wgsl = wgsl.replace(/override\s+(\w+)\s*:\s*(\w+)\s*=\s*([^;]+);/g, (_m, name: string, type: string, dflt: string) => {
    const v = spec.constants?.[name];
    return `const ${name}: ${type} = ${v === undefined ? dflt.trim() : `${v}u`};`;
  });
  const reflect = new WgslReflect(wgsl);
  const entry = reflect.entry.compute.find((f) => f.name === spec.entryPoint);
  if (!entry) throw new Error(`no entry point ${spec.entryPoint}`);
  const group: Record<number, unknown> = {};
  for (const r of entry.resources) {
    if (r.resourceType === ResourceType.Uniform) group[r.binding] = { uniform: new Uint32Array(kernel.packUniforms(uniforms)) };
    else {
      const b = buffers[r.name];
      if (!b) throw new Error(`expectNoRaces: no buffer for binding ${r.name}`);
      group[r.binding] = { buffer: b };
    }
  }
  const { races, errors } = detectRaces(wgsl, spec.entryPoint, workgroups, { 0: group as Record<string, unknown> });
  expect(errors, `${spec.shader}.${spec.entryPoint}: barrier errors`).toEqual([]);
  expect(races.map((r) => r.message).slice(0, 5), `${spec.shader}.${spec.entryPoint}: races`).toEqual([]);
  return { races: races.length };
}
