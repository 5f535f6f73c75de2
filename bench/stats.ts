// Small statistics for the benchmarks.
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** "median M, min-max" of `values`, each with `digits` decimals. */
export function spread(values: readonly number[], digits = 1): string {
  return `median ${median(values).toFixed(digits)}, ${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)}`;
}
