/**
 * "Did you mean": the closest known name to a misspelt one, shared by unknown settings-file keys
 * and unknown command-line flags. Pure.
 * @module
 */

/** Levenshtein distance (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate closest to `name`: fewer than 3 edits away (the first one at the smallest
 * distance), else, with `prefix` (default true), the only candidate `name` is the start of
 * (`--upload-u` → `upload-url`); null when none fits.
 */
export function closestName(
  name: string,
  candidates: readonly string[],
  options: { prefix?: boolean } = {},
): string | null {
  let best: string | null = null;
  let bestD = 3;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  if (best !== null) return best;
  if (options.prefix === false || name.length < 3) return null;
  const starts = candidates.filter((c) => c.startsWith(name));
  return starts.length === 1 ? starts[0]! : null;
}
