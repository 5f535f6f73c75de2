// The seeded fuzzers' knobs: `npm test` runs each with its fixed seed and iteration count; FUZZ_SEED
// and FUZZ_ITERATIONS (decimal or 0x-hex) replace them, as `npm run fuzz` does with random seeds.
function fromEnv(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name}=${raw} is not a non-negative integer`);
  return value;
}

/** The fuzzer's seed: FUZZ_SEED, else its own fixed one (printed in the test title, so a failure can be rerun). */
export function fuzzSeed(fixed: number): number {
  return (fromEnv('FUZZ_SEED') ?? fixed) >>> 0;
}

/** How many chains (or accesses) the fuzzer makes: FUZZ_ITERATIONS, else its default. */
export function fuzzIterations(fallback: number): number {
  return fromEnv('FUZZ_ITERATIONS') ?? fallback;
}

/** The line `npm run fuzz` adds up: "fuzz: <n> chains". */
export function reportChains(chains: number): void {
  console.log(`      fuzz: ${chains} chains`);
}

/**
 * A fuzz test's mocha timeout: `ms` for its default iteration count, growing in proportion when
 * FUZZ_ITERATIONS asks for more (npm run fuzz feeds 100,000 chains a run on a loaded machine).
 */
export function fuzzTimeout(fallbackIterations: number, ms: number): number {
  return Math.ceil(ms * Math.max(1, fuzzIterations(fallbackIterations) / fallbackIterations));
}
