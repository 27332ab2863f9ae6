import { expect } from 'vitest';
import { WgslReflect, ResourceType, detectRaces } from 'wgsl_reflect/wgsl_reflect.module.js';
import type { Hardware } from '../../src/gpu/hardware.js';
import type { KernelSpec, UniformValue } from '../../src/gpu/kernel.js';

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

/**
 * Runs wgsl_reflect's lock-step race detector on an entry point (its
 * preprocessed WGSL, with `replace` applied to shrink sizes) and expects no
 * data race and no barrier divergence. Buffers are keyed by binding name.
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
  wgsl = specialize(wgsl.replace(/\blinear1d\(wid, nwg, li\)/g, '((wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y) * WG + li)'), spec.constants ?? {});
  const reflect = new WgslReflect(wgsl);
  const entry = reflect.entry.compute.find((f) => f.name === spec.entryPoint);
  if (!entry) throw new Error(`no entry point ${spec.entryPoint}`);
  const group: Record<number, unknown> = {};
  for (const r of entry.resources) {
    if (r.resourceType === ResourceType.Uniform) group[r.binding] = { uniform: new Uint32Array(kernel.packUniforms(uniforms)) };
    else {
      const b = buffers[r.name];
      if (!b) throw new Error(`expectNoRaces: no buffer for binding ${r.name}`);
      group[r.binding] = b;
    }
  }
  const { races, errors } = detectRaces(wgsl, spec.entryPoint, workgroups, { 0: group as Record<string, unknown> });
  expect(errors, `${spec.shader}.${spec.entryPoint}: barrier errors`).toEqual([]);
  expect(races.map((r) => r.message).slice(0, 5), `${spec.shader}.${spec.entryPoint}: races`).toEqual([]);
  return { races: races.length };
}

/** max |got − want| / max |want| over the entries selected by `use` (∞ when `got` has a non-finite entry). */
export function relMaxError(got: ArrayLike<number>, want: ArrayLike<number>, use: (i: number) => boolean = () => true): number {
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
