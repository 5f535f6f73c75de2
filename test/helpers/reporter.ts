// mocha's spec reporter plus one plain closing line, "tests: N passed, N failed, N skipped, N retried",
// that CI tooling reads without knowing mocha. Retried attempts are printed with their failure, so a
// test that passed on a retry never looks like a clean pass; outside .ci/kvm-vm (where KVM itself is
// emulated and retryUnderEmulation allows retries) a retry counts as a failure and fails the run.
import * as Mocha from 'mocha';

/** Set by .ci/kvm-vm (see nestedEmulation in ./kvm.ts, which this reporter does not load). */
const retriesAllowed = (): boolean => Boolean(process.env.KVM_VM_EMULATED);

class SpecWithSummary extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    let retried = 0;
    const retriedTitles = new Set<string>();
    runner.on(Mocha.Runner.constants.EVENT_TEST_RETRY, (test: Mocha.Test, error: Error) => {
      retried++;
      retriedTitles.add(test.fullTitle());
      console.log(`      retrying "${test.title}" after: ${error.message.split('\n')[0]}`);
    });
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const stats = runner.stats;
      if (stats === undefined) return;
      // Registered before mocha's own run-end listener, which exits with runner.failures.
      const counted = retriesAllowed() ? 0 : retriedTitles.size;
      if (counted > 0) {
        console.log(`${counted} retried test(s) count as failures outside .ci/kvm-vm: ${[...retriedTitles].join('; ')}`);
        runner.failures += counted;
      }
      // Registered after the spec reporter's own 'end' listener, so this prints after its epilogue.
      console.log(`tests: ${stats.passes} passed, ${stats.failures + counted} failed, ${stats.pending} skipped, ${retried} retried`);
    });
  }
}

export = SpecWithSummary;
