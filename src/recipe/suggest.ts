/**
 * Edit distance counting insertions, deletions, substitutions and swaps of
 * neighbours (optimal string alignment), for "did you mean" suggestions on
 * short identifiers: `W4A61` is one step from `W4A16`.
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d.push([i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** Case, `_` and `-` are noise in identifiers users mistype (`blocksize`, `blockSize`, `block-size`). */
function squash(s: string): string {
  return s.toLowerCase().replace(/[_-]/g, '');
}

/**
 * The candidate the user most likely meant by `word`, or undefined when none
 * is close: same letters up to case and underscores, or an edit distance of
 * at most a third of the word's length (at least 1, at most 3).
 */
export function closestMatch(word: string, candidates: Iterable<string>): string | undefined {
  const w = squash(word);
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = squash(c) === w ? 0 : editDistance(w, squash(c));
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  const limit = Math.min(3, Math.max(1, Math.floor(w.length / 3)));
  return bestDist <= limit && bestDist < w.length ? best : undefined;
}

/** ` (did you mean X?)` or an empty string. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const m = closestMatch(word, candidates);
  return m === undefined ? '' : ` (did you mean ${m}?)`;
}
