/**
 * JSON helpers for checkpoint files: duplicate-key detection (JSON.parse
 * silently keeps the last duplicate, but a safetensors header must not have
 * any) and the sorted, indented serialisation Python's
 * `json.dumps(indent=2, sort_keys=True)` produces for config and index files.
 */

/**
 * Returns the first key that occurs twice in one object of `text`, with the
 * path of that object, or undefined. `text` must already be valid JSON
 * (call after JSON.parse succeeded); the scan is iterative, so deep nesting
 * cannot overflow the stack.
 */
export function findDuplicateKey(text: string): { key: string; path: string } | undefined {
  // One frame per open container: objects hold their key set and whether the next string is a key.
  const stack: { keys?: Set<string>; expectKey: boolean; name: string }[] = [];
  let lastKey = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 0x5c /* \ */) j += 2;
        else if (d === 0x22) break;
        else j++;
      }
      const top = stack[stack.length - 1];
      if (top && top.keys && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return { key, path: stack.map((f) => f.name).filter(Boolean).join('.') };
        top.keys.add(key);
        top.expectKey = false;
        lastKey = key;
      }
      i = j + 1;
      continue;
    }
    if (c === 0x7b /* { */) {
      stack.push({ keys: new Set(), expectKey: true, name: lastKey });
      lastKey = '';
    } else if (c === 0x5b /* [ */) {
      stack.push({ expectKey: false, name: lastKey });
      lastKey = '';
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top && top.keys) top.expectKey = true;
    }
    i++;
  }
  return undefined;
}

/** A JSON value (what JSON.parse returns). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** True for a plain JSON object (not null, not an array). */
export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Serialises like Python's `json.dumps(value, indent=2, sort_keys=True)`:
 * keys sorted by code point, two-space indent, `": "` and `","` separators,
 * empty containers as `{}` / `[]`. Integral floats print without a fraction
 * (JavaScript cannot tell 1.0 from 1); loaders treat both alike.
 */
export function stringifySorted(value: unknown, indent = 2): string {
  const pad = (d: number) => ' '.repeat(indent * d);
  const walk = (v: unknown, d: number): string => {
    if (v === null || v === undefined) return 'null';
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      return `[\n${v.map((x) => pad(d + 1) + walk(x, d + 1)).join(',\n')}\n${pad(d)}]`;
    }
    if (typeof v === 'object') {
      const keys = Object.keys(v as object).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort(compareCodePoints);
      if (keys.length === 0) return '{}';
      return `{\n${keys.map((k) => `${pad(d + 1)}${JSON.stringify(k)}: ${walk((v as Record<string, unknown>)[k], d + 1)}`).join(',\n')}\n${pad(d)}}`;
    }
    if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
    return JSON.stringify(v);
  };
  return walk(value, 0);
}

/** Orders strings by Unicode code point (Python's and Rust's string order), not UTF-16 unit. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i) as number;
    const y = b.codePointAt(i) as number;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/**
 * JSON text of a value for an error message, cut to `max` characters; a
 * value nested too deep to serialise (a hostile file) is summarised instead
 * of overflowing the stack.
 */
export function preview(v: unknown, max = 60): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = Array.isArray(v) ? '[…deeply nested…]' : typeof v;
  }
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
