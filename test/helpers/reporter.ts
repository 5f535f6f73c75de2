// mocha's spec reporter plus one plain closing line, "tests: N passed, N failed, N skipped, N retried",
// that CI tooling reads without knowing mocha. Retried attempts are printed with their failure, so a
// test that passed on a retry never looks like a clean pass.
import * as Mocha from 'mocha';

class SpecWithSummary extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    let retried = 0;
    runner.on(Mocha.Runner.constants.EVENT_TEST_RETRY, (test: Mocha.Test, error: Error) => {
      retried++;
      console.log(`      retrying "${test.title}" after: ${error.message.split('\n')[0]}`);
    });
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const stats = runner.stats;
      if (stats === undefined) return;
      // Registered after the spec reporter's own 'end' listener, so this prints after its epilogue.
      console.log(`tests: ${stats.passes} passed, ${stats.failures} failed, ${stats.pending} skipped, ${retried} retried`);
    });
  }
}

export = SpecWithSummary;
