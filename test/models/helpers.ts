import { expect } from 'vitest';
import { WgslReflect, ResourceType, detectRaces } from 'wgsl_reflect/wgsl_reflect.module.js';
import type { Hardware } from '../../src/gpu/hardware.js';
import type { KernelSpec, UniformValue } from '../../src/gpu/kernel.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { fillWords } from '../../src/gpu/kernels/elementwise.js';

/** An f32 output tensor filled with NaN so that elements a kernel fails to write are caught. */
export function poisoned(hw: Hardware, shape: number[]): Tensor {
  const t = Tensor.empty(hw, shape, 'f32');
  fillWords(hw, t);
  return t;
}

/**
 * Largest |got − want| / (atol + rtol·|want|) over all elements; > 1 fails.
 * NaN in `got` (an unwritten, poisoned element) fails.
 */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: { atol: number; rtol: number }, context: string): void {
  expect(got.length, `${context}: length`).toBe(want.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    if (!Number.isFinite(g)) throw new Error(`${context}: element ${i} is ${g} (want ${want[i]})`);
    const r = Math.abs(g - want[i]) / (tol.atol + tol.rtol * Math.abs(want[i]));
    if (r > worst) {
      worst = r;
      at = i;
    }
  }
  if (worst > 1) throw new Error(`${context}: element ${at} is ${got[at]}, want ${want[at]} (error ${worst.toFixed(2)}× the tolerance atol=${tol.atol} rtol=${tol.rtol})`);
}

/** Relative L∞ error max|got − want| / max|want|. */
export function relMaxError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    if (!Number.isFinite(got[i])) return Infinity;
    num = Math.max(num, Math.abs(got[i] - want[i]));
    den = Math.max(den, Math.abs(want[i]));
  }
  return num / Math.max(den, 1e-30);
}

/**
 * Runs wgsl_reflect's lock-step race detector on a kernel's preprocessed
 * WGSL with small buffers and asserts no data race or barrier divergence.
 * `buffers` are keyed by binding variable name.
 */
export function expectNoRaces(
  hw: Hardware,
  spec: KernelSpec,
  uniforms: Readonly<Record<string, UniformValue>>,
  buffers: Record<string, Float32Array | Uint32Array>,
  workgroups: number[],
): void {
  const kernel = hw.kernels.get(spec);
  const reflect = new WgslReflect(kernel.wgsl);
  const entry = reflect.entry.compute.find((f) => f.name === spec.entryPoint);
  if (!entry) throw new Error(`no entry ${spec.entryPoint}`);
  const group: Record<number, unknown> = {};
  for (const r of entry.resources) {
    if (r.resourceType === ResourceType.Uniform) group[r.binding] = { uniform: kernel.packUniforms(uniforms) };
    else {
      const b = buffers[r.name];
      if (!b) throw new Error(`expectNoRaces: no buffer for binding ${r.name}`);
      group[r.binding] = b;
    }
  }
  const { races, errors } = detectRaces(specialize(kernel.wgsl, spec.constants ?? {}), spec.entryPoint, workgroups, { 0: group as Record<string, unknown> });
  expect(errors, `${spec.shader}.${spec.entryPoint}: barrier errors`).toEqual([]);
  expect(races.map((r) => r.message).slice(0, 5), `${spec.shader}.${spec.entryPoint}: races`).toEqual([]);
}

/**
 * Pipeline constants substituted into the source as `const`s, as Dawn does
 * before compiling: the race detector cannot size a `var<workgroup>` array by
 * an `override` expression.
 */
function specialize(wgsl: string, constants: Readonly<Record<string, number>>): string {
  return wgsl.replace(/override\s+(\w+)\s*:\s*(\w+)\s*=\s*([^;]+);/g, (_m, name: string, type: string, dflt: string) => {
    const v = constants[name];
    const value = v === undefined ? dflt.trim() : type === 'u32' ? `${v}u` : type === 'i32' ? `${v}i` : `${v}f`;
    return `const ${name}: ${type} = ${value};`;
  });
}
