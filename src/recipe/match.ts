/**
 * Target and ignore matching with compressed-tensors' rules (`utils/match.py`,
 * llm-compressor reference §3): a target matches a module when
 *   1. it starts with `re:` and the rest, a Python regex, matches the module's
 *      name from its start (`re.match`), or
 *   2. it equals the module's full name, or
 *   3. it equals a class name in the module's class chain (`Linear`,
 *      `LlamaDecoderLayer`); vLLM's `LinearBase` also answers to `Linear`.
 * `ignore` lists use the same rules.
 */
import { compilePythonRegex, pythonReMatch } from './pyRegex.js';

/** What matching needs to know about a module. */
export interface MatchableModule {
  /** Full dotted name, `model.layers.3.self_attn.q_proj`; empty for the root. */
  readonly name: string;
  /** Class names, most specific first (`['Linear']`, `['LlamaDecoderLayer']`). */
  readonly classNames: readonly string[];
}

/** Anything that lists its modules in `named_modules()` order (pre-order, root first). */
export interface ModuleTree<M extends MatchableModule = MatchableModule> {
  modules(): Iterable<M>;
}

export type Targets = string | Iterable<string>;

const REGEX_PREFIX = 're:';

function list(targets: Targets | undefined): string[] {
  if (targets === undefined) return [];
  return typeof targets === 'string' ? [targets] : [...targets];
}

/** Why a target string is unusable (a `re:` pattern that does not compile), or undefined when it is fine. */
export function targetProblem(target: string): string | undefined {
  if (!target.startsWith(REGEX_PREFIX)) return target === '' ? 'empty target' : undefined;
  try {
    compilePythonRegex(target.slice(REGEX_PREFIX.length));
    return undefined;
  } catch (e) {
    return `invalid regular expression ${JSON.stringify(target)}: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/** Rule 1 or 2: the target names this module (by regex or exactly). */
export function matchName(name: string, target: string): boolean {
  if (target.startsWith(REGEX_PREFIX)) return pythonReMatch(target.slice(REGEX_PREFIX.length), name);
  return target === name;
}

/** Rule 3: the target is one of the module's class names. */
export function matchClass(module: MatchableModule, target: string): boolean {
  return module.classNames.some((c) => c === target || (c === 'LinearBase' && target === 'Linear'));
}

/** True when any target matches the module and no ignore entry does. */
export function isMatch(module: MatchableModule, targets: Targets, ignore: Targets = []): boolean {
  const hit = (t: string) => matchName(module.name, t) || matchClass(module, t);
  return list(targets).some(hit) && !list(ignore).some(hit);
}

/**
 * The targets that match a module, most specific first: exact names, then
 * regexes, then class names (compressed-tensors merges configs in this order).
 */
export function matchTargets(module: MatchableModule, targets: Targets): string[] {
  const sorted = list(targets).sort((a, b) => {
    const ra = a.includes(REGEX_PREFIX) ? 1 : 0;
    const rb = b.includes(REGEX_PREFIX) ? 1 : 0;
    return ra - rb || (a < b ? -1 : a > b ? 1 : 0);
  });
  const out = sorted.filter((t) => matchName(module.name, t));
  for (const t of sorted) if (matchClass(module, t) && !out.includes(t)) out.push(t);
  return out;
}

export interface MatchOptions {
  /** Called once for each target that matched no module at all. */
  onUnmatched?: (target: string) => void;
}

/**
 * The modules of `tree` that match `targets` and not `ignore`, in module
 * order (`match_named_modules`).
 */
export function matchNamedModules<M extends MatchableModule>(tree: ModuleTree<M>, targets: Targets, ignore: Targets = [], options: MatchOptions = {}): M[] {
  const ts = list(targets);
  const ig = list(ignore);
  const unmatched = new Set(ts);
  const out: M[] = [];
  const hits = (m: M, t: string) => matchName(m.name, t) || matchClass(m, t);
  for (const m of tree.modules()) {
    for (const t of ts) {
      if (!hits(m, t)) continue;
      unmatched.delete(t);
      if (!ig.some((i) => hits(m, i))) out.push(m);
      break;
    }
  }
  if (options.onUnmatched) for (const t of unmatched) options.onUnmatched(t);
  return out;
}

/** The dotted name two or more names share as an ancestor (`get_lowest_common_ancestor_name`). */
export function lowestCommonAncestorName(names: readonly (string | undefined)[]): string {
  const ns = names.filter((n): n is string => n !== undefined);
  if (ns.length === 0) return '';
  const s1 = '.' + ns.reduce((a, b) => (a < b ? a : b)) + '.';
  const s2 = '.' + ns.reduce((a, b) => (a > b ? a : b)) + '.';
  let i = 0;
  while (i < s1.length && i < s2.length && s1[i] === s2[i]) i++;
  const prefix = s1.slice(0, i);
  return prefix.slice(1, prefix.lastIndexOf('.'));
}

/**
 * Groups matches of several targets by their parent context, one group per
 * layer (or per expert set), each group a list per target in target order
 * (`match_modules_set`): how SmoothQuant and AWQ pair a norm with the
 * projections it feeds. Errors when a module matches two targets or the
 * last group is incomplete.
 */
export function* matchModulesSet<M extends MatchableModule>(tree: ModuleTree<M>, targets: readonly string[], ignore: Targets = []): Generator<M[][]> {
  let matches = new Map<string, M[]>();
  let parentContext: string | undefined;
  let unmatched = new Set(targets);
  const group = () => targets.map((t) => matches.get(t) ?? []);
  for (const m of tree.modules()) {
    const matchedHere = new Set<string>();
    for (const t of targets) {
      if (!isMatch(m, t, ignore)) continue;
      let ctx = lowestCommonAncestorName([m.name, parentContext]);
      if (unmatched.size === 0 && ctx !== parentContext) {
        yield group();
        matches = new Map();
        ctx = m.name;
        unmatched = new Set(targets);
      }
      const arr = matches.get(t) ?? [];
      arr.push(m);
      matches.set(t, arr);
      parentContext = ctx;
      unmatched.delete(t);
      matchedHere.add(t);
    }
    if (matchedHere.size > 1) {
      throw new Error(`module: ${m.name} was matched with multiple targets: ${[...matchedHere].join(', ')}`);
    }
  }
  if (unmatched.size === targets.length) return;
  if (unmatched.size === 0) {
    yield group();
    return;
  }
  const found = targets.filter((t) => !unmatched.has(t));
  throw new Error(`Found a final incomplete set with matches found for keys: ${found.join(', ')} but no matches found for keys: ${[...unmatched].join(', ')}`);
}
