// mocha's spec reporter plus one plain closing line, "tests: N passed, N failed, N skipped", that CI
// tooling reads without knowing mocha.
import * as Mocha from 'mocha';

class SpecWithSummary extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const stats = runner.stats;
      if (stats === undefined) return;
      // Registered after the spec reporter's own 'end' listener, so this prints after its epilogue.
      console.log(`tests: ${stats.passes} passed, ${stats.failures} failed, ${stats.pending} skipped`);
    });
  }
}

export = SpecWithSummary;
