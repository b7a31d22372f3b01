// "did you mean ...?" for a mistyped config key: the closest known key by edit distance
// (insertions, deletions, substitutions and swaps of two neighbouring letters).

/** Optimal string alignment distance (Damerau-Levenshtein without repeated edits of a substring). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known key closest to `key`, if it is close enough to be a typo of it (ties: first listed). */
export function nearestKey(key: string, known: Iterable<string>): string | undefined {
  const wanted = key.toLowerCase().replace(/-/g, '_');
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    // a nested key named without its section (max_retries for retry_policy.max_retries)
    const leaf = k.slice(k.lastIndexOf('.') + 1);
    const dist = Math.min(editDistance(wanted, k), editDistance(wanted, leaf));
    if (dist < bestDistance) {
      best = k;
      bestDistance = dist;
    }
  }
  const allowed = Math.max(2, Math.floor(wanted.length / 4));
  return best !== undefined && bestDistance <= allowed ? best : undefined;
}
