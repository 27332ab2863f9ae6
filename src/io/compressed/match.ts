/**
 * Module matching for `targets` and `ignore` (compressed-tensors.md §2.5):
 * `re:<pattern>` matches when the pattern matches at the start of the module
 * name (Python's `re.match`, not a full match); any other string matches the
 * exact module name, or a class name. Class names cannot be checked against a
 * checkpoint, so a target that looks like one (no dot, starts upper-case,
 * e.g. `Linear`) is treated as matching every Linear layer.
 */

/** How a target matched: exact names win over patterns, patterns over class names (CT's order). */
export type MatchKind = 'exact' | 'regex' | 'class';

const cache = new Map<string, RegExp>();

function anchored(pattern: string): RegExp {
  let re = cache.get(pattern);
  if (!re) {
    re = new RegExp(`^(?:${pattern})`);
    cache.set(pattern, re);
  }
  return re;
}

/** True for a target that names a module class (`Linear`, `LlamaAttention`) rather than a module. */
export function isClassTarget(target: string): boolean {
  return !target.startsWith('re:') && !target.includes('.') && /^[A-Z]/.test(target);
}

/**
 * How `module` matches `target`, or undefined. `isLinear` says whether the
 * module is a Linear layer, which the class name `Linear` (and any class
 * name ending in `Linear`) matches.
 */
export function matchTarget(module: string, target: string, isLinear = true): MatchKind | undefined {
  if (target.startsWith('re:')) return anchored(target.slice(3)).test(module) ? 'regex' : undefined;
  if (target === module) return 'exact';
  if (isClassTarget(target)) return isLinear && /Linear$/.test(target) ? 'class' : undefined;
  return undefined;
}

/** The best match of `module` against a list of targets, or undefined. */
export function bestMatch(module: string, targets: readonly string[], isLinear = true): MatchKind | undefined {
  let best: MatchKind | undefined;
  const rank = { exact: 0, regex: 1, class: 2 } as const;
  for (const t of targets) {
    const m = matchTarget(module, t, isLinear);
    if (m && (!best || rank[m] < rank[best])) best = m;
  }
  return best;
}

/**
 * True when an `ignore` list excludes `module`: an exact name or a `re:`
 * pattern. Class names in `ignore` (rare) are not applied to modules.
 */
export function isIgnored(module: string, ignore: readonly string[]): boolean {
  return ignore.some((t) => {
    const m = matchTarget(module, t, false);
    return m === 'exact' || m === 'regex';
  });
}

/** Names of modules that look like embeddings rather than Linear layers (they have 2-D weights too). */
export function looksLikeEmbedding(module: string): boolean {
  return /(^|\.)(embed_tokens|embed_positions|embeddings?|wte|wpe|tok_embeddings|word_embeddings|shared)$/.test(module);
}
