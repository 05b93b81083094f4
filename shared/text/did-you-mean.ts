/**
 * "Did you mean Bob?": close names for a mistyped one, by optimal string
 * alignment distance (Levenshtein plus the swap of two neighbours, the usual
 * typo), compared without case. The thresholds are commander's for mistyped
 * commands, so names and commands are suggested alike.
 */

/** Most edits a suggestion may be away: beyond 2, a "suggestion" is a different word. */
const MAX_DISTANCE = 2;
/** Share of the longer word that must survive the edits: "Al" is not a suggestion for "Ed". */
const MIN_SIMILARITY = 0.4;

/** Optimal string alignment distance between a and b. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidates closest to `word` (all at the best distance), in their given order; [] when none is close. */
export function closest(word: string, candidates: readonly string[]): string[] {
  const w = word.toLowerCase();
  let best = MAX_DISTANCE + 1;
  let found: string[] = [];
  for (const c of new Set(candidates)) {
    const lc = c.toLowerCase();
    if (Math.abs(lc.length - w.length) > MAX_DISTANCE) continue;
    const distance = editDistance(w, lc);
    const length = Math.max(w.length, lc.length);
    if ((length - distance) / length <= MIN_SIMILARITY) continue;
    if (distance < best) [best, found] = [distance, [c]];
    else if (distance === best) found.push(c);
  }
  return found;
}

/** " Did you mean Bob?" / " Did you mean Bob or Rob?", or '' when nothing is close. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const found = closest(word, candidates);
  if (found.length === 0) return '';
  const names = found.length === 1 ? found[0]! : `${found.slice(0, -1).join(', ')} or ${found[found.length - 1]!}`;
  return ` Did you mean ${names}?`;
}
