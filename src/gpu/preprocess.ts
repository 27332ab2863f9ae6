/**
 * Resolves `#if FLAG` / `#else` / `#endif` lines in WGSL source. WGSL has no
 * preprocessor, but one kernel family often needs a subgroup and a
 * workgroup-memory variant, or an f16 and an f32 one, and `enable subgroups;`
 * must not appear at all on a device without the feature. Flags are plain
 * booleans; `#if !FLAG` negates. `#include "lib/x.wgsl"` lines are expanded
 * earlier, when scripts/bundle-shaders.mjs bundles shaders/; one left in the
 * text means the source did not come from the bundle. Nothing else is
 * supported on purpose.
 */
export function preprocessWgsl(source: string, flags: Readonly<Record<string, boolean>>, file = 'shader'): string {
  const out: string[] = [];
  const stack: { active: boolean; parentActive: boolean; line: number; sawElse: boolean }[] = [];
  const lines = source.split('\n');
  lines.forEach((line, i) => {
    const t = line.trim();
    const m = /^#if\s+(!?)([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(t);
    const parentActive = stack.length === 0 || stack[stack.length - 1].active;
    if (m) {
      if (!(m[2] in flags)) throw new Error(`${file}:${i + 1}: flag ${m[2]} is not defined (defined: ${Object.keys(flags).join(', ') || 'none'})`);
      const v = m[1] === '!' ? !flags[m[2]] : flags[m[2]];
      stack.push({ active: parentActive && v, parentActive, line: i + 1, sawElse: false });
      out.push('');
    } else if (t === '#else') {
      const top = stack[stack.length - 1];
      if (!top || top.sawElse) throw new Error(`${file}:${i + 1}: #else without #if`);
      top.sawElse = true;
      top.active = top.parentActive && !top.active;
      out.push('');
    } else if (t === '#endif') {
      if (!stack.pop()) throw new Error(`${file}:${i + 1}: #endif without #if`);
      out.push('');
    } else if (t.startsWith('#include')) {
      throw new Error(`${file}:${i + 1}: ${t} was not expanded; includes are resolved by scripts/bundle-shaders.mjs (run it, and load shaders through shaderSources)`);
    } else if (t.startsWith('#')) {
      throw new Error(`${file}:${i + 1}: unknown directive ${t}`);
    } else {
      // Blank lines keep line numbers aligned with the file for compiler messages.
      out.push(parentActive ? line : '');
    }
  });
  if (stack.length) throw new Error(`${file}:${stack[stack.length - 1].line}: #if without #endif`);
  return out.join('\n');
}
