// What a test does when something it needs is missing from this machine: under CI=true (where
// .ci/run installs everything) it fails; elsewhere it prints the reason and how to get it, and skips.
export function missingPrerequisite(context: Mocha.Context, what: string, remedy: string): never {
  if (process.env.CI === 'true') throw new Error(`CI=true but ${what} (${remedy})`);
  console.log(`      skipping: ${what} (${remedy})`);
  context.skip();
}
