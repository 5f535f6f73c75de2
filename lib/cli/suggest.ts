// "Did you mean ...?" for a mistyped command or option: the closest known word by edit distance.

/** Levenshtein distance: insertions, deletions and substitutions, each costing 1. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(substitution, (previous[j] as number) + 1, (current[j - 1] as number) + 1));
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** The known word closest to `word`, if close enough to be what was meant (or one is a prefix of the other). */
export function closest(word: string, known: readonly string[]): string | undefined {
  const bare = (w: string): string => w.replace(/^-+/, ''); // '--memory' is compared as 'memory'
  const typed = bare(word);
  const limit = Math.max(2, Math.floor(typed.length / 3));
  let best: { word: string; distance: number } | undefined;
  for (const candidate of known) {
    const name = bare(candidate);
    const prefix = name.length >= 3 && typed.length >= 3 && (name.startsWith(typed) || typed.startsWith(name));
    const distance = prefix ? 1 : editDistance(typed, name);
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { word: candidate, distance };
  }
  return best?.word;
}

/** `"; did you mean '--mem'?"` when a known word is close, else an empty string. */
export function suggestion(word: string, known: readonly string[]): string {
  const match = closest(word, known);
  return match === undefined ? '' : `; did you mean '${match}'?`;
}
