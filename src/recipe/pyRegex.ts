/**
 * Recipes write `re:` targets in Python `re` syntax and llm-compressor applies
 * them with `re.match`, which anchors at the start of the name but not at the
 * end (hence the habitual leading `.*`). This module turns such a pattern into
 * a JavaScript RegExp with the same meaning for module names.
 */

const cache = new Map<string, RegExp>();

/** Rewrites the Python-only pieces of a pattern; throws with a reason for the ones JavaScript cannot express. */
function translate(pattern: string): { source: string; flags: string } {
  let flags = '';
  let src = pattern;
  // Global inline flags are only legal at the very start in Python ≥ 3.11.
  const lead = /^\(\?([aiLmsux]+)\)/.exec(src);
  if (lead) {
    for (const f of lead[1]) {
      if (f === 'i' || f === 'm' || f === 's') flags += f;
      else if (f === 'x' || f === 'L') throw new Error(`inline flag (?${f}) is not supported`);
      // a (ASCII) and u (Unicode) do not change how module names match.
    }
    src = src.slice(lead[0].length);
  }
  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') {
      const n = src[i + 1];
      if (n === undefined) throw new Error('pattern ends with a lone backslash');
      if (!inClass && n === 'A') out += '^';
      else if (!inClass && n === 'Z') out += '$';
      else out += c + n;
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      // A `]` right after `[` or `[^` is a literal in both dialects.
      if (src[i + 1] === '^') out += src[++i];
      if (src[i + 1] === ']') out += '\\' + src[++i];
      continue;
    }
    if (src.startsWith('(?P<', i)) {
      out += '(?<';
      i += 3;
      continue;
    }
    if (src.startsWith('(?P=', i)) {
      const end = src.indexOf(')', i);
      if (end < 0) throw new Error('unterminated (?P=name)');
      out += `\\k<${src.slice(i + 4, end)}>`;
      i = end;
      continue;
    }
    out += c;
  }
  return { source: out, flags };
}

/**
 * Compiles a Python-syntax pattern into a RegExp that matches only at the
 * start of the string (sticky), as `re.match` does. Throws an Error whose
 * message says why the pattern is invalid.
 */
export function compilePythonRegex(pattern: string): RegExp {
  let re = cache.get(pattern);
  if (re) return re;
  const { source, flags } = translate(pattern);
  try {
    re = new RegExp(source, flags + 'y');
  } catch (e) {
    // V8 says "Invalid regular expression: /<source>/<flags>: <reason>"; the reason is what helps.
    throw new Error((e instanceof Error ? e.message : String(e)).replace(/^Invalid regular expression: \/[\s\S]*\/[a-z]*: /, ''));
  }
  cache.set(pattern, re);
  return re;
}

/** `re.match(pattern, text) is not None`. */
export function pythonReMatch(pattern: string, text: string): boolean {
  const re = compilePythonRegex(pattern);
  re.lastIndex = 0;
  return re.test(text);
}
