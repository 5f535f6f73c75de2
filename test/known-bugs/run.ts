// npm run test:known-bugs: in a scratch copy of the tree, puts each known bug (bugs.ts) back one at
// a time, rebuilds, runs the unit tests meant to catch it, and fails unless every bug makes them
// fail. One line per bug. The tree itself is never touched.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KNOWN_BUGS, type KnownBug } from './bugs';

const ROOT = path.resolve(__dirname, '..', '..', '..');
/** Shared, not copied: dependencies and the built addon. */
const LINKED = ['node_modules', 'build', 'prebuilds'];
const COPIED = ['lib', 'test', 'bench', 'tsconfig.json', 'package.json', 'dist'];

function scratchCopy(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-vmm-known-bugs-'));
  for (const entry of COPIED) fs.cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
  for (const entry of LINKED) if (fs.existsSync(path.join(ROOT, entry))) fs.symlinkSync(path.join(ROOT, entry), path.join(dir, entry));
  return dir;
}

function compile(dir: string): void {
  const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8' });
  if (tsc.status !== 0) throw new Error(`tsc failed in the scratch copy:\n${tsc.stdout}${tsc.stderr}`);
}

/** Runs the bug's tests; returns the titles of those that failed. */
function failingTests(dir: string, bug: KnownBug): string[] {
  const report = path.join(dir, 'report.json');
  fs.rmSync(report, { force: true });
  const files = bug.tests.map((name) => path.join('dist', 'test', 'unit', `${name}.test.js`));
  spawnSync(process.execPath, ['--expose-gc', path.join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js'), '--no-config', '--timeout', '120000', '--exit', '--reporter', 'json', '--reporter-option', `output=${report}`, ...files], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, FUZZ_SEED: '', FUZZ_ITERATIONS: '' },
  });
  if (!fs.existsSync(report)) return ['(mocha wrote no report: the run itself broke)'];
  const { failures } = JSON.parse(fs.readFileSync(report, 'utf8')) as { failures: { fullTitle: string }[] };
  return failures.map((failure) => failure.fullTitle);
}

function main(): void {
  const dir = scratchCopy();
  let missed = 0;
  try {
    compile(dir);
    const clean = KNOWN_BUGS.flatMap((bug) => bug.tests).filter((name, i, all) => all.indexOf(name) === i);
    const baseline = failingTests(dir, { name: 'none', file: '', from: '', to: '', tests: clean });
    if (baseline.length > 0) throw new Error(`the tests fail without any bug: ${baseline.join('; ')}`);
    for (const bug of KNOWN_BUGS) {
      const file = path.join(dir, bug.file);
      const original = fs.readFileSync(file, 'utf8');
      const at = original.indexOf(bug.from);
      if (at < 0 || original.indexOf(bug.from, at + 1) >= 0) {
        console.log(`STALE   ${bug.name}: its text is not found exactly once in ${bug.file} (update test/known-bugs/bugs.ts)`);
        missed++;
        continue;
      }
      fs.writeFileSync(file, original.replace(bug.from, bug.to));
      try {
        compile(dir);
        const failed = failingTests(dir, bug);
        if (failed.length === 0) missed++;
        console.log(failed.length > 0 ? `caught  ${bug.name}: ${failed.length} failing, e.g. "${failed[0]}"` : `MISSED  ${bug.name}: ${bug.tests.join(', ')} all pass`);
      } finally {
        fs.writeFileSync(file, original);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`known bugs: ${KNOWN_BUGS.length - missed} of ${KNOWN_BUGS.length} caught`);
  if (missed > 0) process.exitCode = 1;
}

main();
