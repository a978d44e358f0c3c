// Suggestions for misspelt field names: the known word nearest to a typo, by a bounded
// edit distance (a long key must not cost seconds of the event loop).

/**
 * Longest word a suggestion is looked for: a typo of a field name is about as long as the
 * name (the longest is 29 characters). Without the bound, one 900 KB key cost seconds of
 * edit distances per known field while the event loop stood still.
 */
const MAX_SUGGEST_LENGTH = 64;

/** The known field nearest to a misspelt one, when it is near enough to be a typo. */
export function closest(word: string, known: string[]): string | undefined {
  if (word.length > MAX_SUGGEST_LENGTH) return undefined;
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 4)) + 1;
  for (const k of known) {
    const d = boundedDistance(lower, k.toLowerCase(), bestDistance);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

/**
 * The edit distance of a and b, or `limit` when it is `limit` or more. Only a distance
 * under the limit matters, so the work stops once no cell of a row is under it (a row's
 * minimum never falls in later rows), and strings whose lengths differ by the limit are
 * not compared at all.
 */
export function boundedDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (cur[j] < rowMin) rowMin = cur[j];
    }
    if (rowMin >= limit) return limit;
    prev = cur;
  }
  return Math.min(prev[b.length], limit);
}
