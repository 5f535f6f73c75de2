// The one way a test skips. Every skip prints its reason. A missing prerequisite (a package, a
// device, a file that .ci/run installs) fails instead under CI=true; a host that cannot run the test
// by its nature (guest kernel mode emulated, a suite left to its own npm script) skips everywhere.
// test/unit/skips.test.ts checks that no test calls mocha's skip() any other way.
export function missingPrerequisite(context: Mocha.Context, what: string, remedy: string): never {
  if (process.env.CI === 'true') throw new Error(`CI=true but ${what} (${remedy})`);
  return skipWithReason(context, `${what} (${remedy})`);
}

/** This host cannot run the test whatever is installed (said why); not a failure, even under CI=true. */
export function notOnThisHost(context: Mocha.Context, why: string): never {
  return skipWithReason(context, why);
}

function skipWithReason(context: Mocha.Context, reason: string): never {
  console.log(`      skipping: ${reason}`);
  context.skip();
}
