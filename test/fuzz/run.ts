// npm run fuzz: runs the seeded fuzzers again and again with random seeds for FUZZ_SECONDS (default
// 120), FUZZ_ITERATIONS chains per fuzzer and run (default 20000), and prints the seed of every run
// that failed and the chains fed in all. Exits non-zero if any run failed.
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const FUZZERS = ['virtqueue-fuzz', 'virtio-devices-fuzz', 'virtio-blk', 'virtio-rng'].map((name) => path.join('dist', 'test', 'unit', `${name}.test.js`));
/** Only the seeded tests of those files. */
const GREP = 'survives|hostile chains';
const CHAIN_LINE = /fuzz: (\d+) chains/g;

function main(): void {
  const seconds = Number(process.env.FUZZ_SECONDS ?? 120);
  const iterations = process.env.FUZZ_ITERATIONS ?? '20000';
  const deadline = Date.now() + seconds * 1000;
  const failedSeeds: string[] = [];
  let chains = 0;
  let runs = 0;
  while (Date.now() < deadline) {
    const seed = `0x${randomInt(0, 2 ** 32 - 1).toString(16)}`;
    const run = spawnSync(process.execPath, ['--expose-gc', path.join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js'), '--no-config', '--timeout', '600000', '--exit', '--reporter', 'dot', '-g', GREP, ...FUZZERS], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, FUZZ_SEED: seed, FUZZ_ITERATIONS: iterations },
    });
    runs++;
    for (const match of run.stdout.matchAll(CHAIN_LINE)) chains += Number(match[1]);
    if (run.status !== 0) {
      failedSeeds.push(seed);
      console.log(`FAILED with FUZZ_SEED=${seed} FUZZ_ITERATIONS=${iterations}:\n${run.stdout}${run.stderr}`);
    } else {
      console.log(`seed ${seed}: ok (${chains} chains so far)`);
    }
  }
  console.log(`fuzz: ${runs} runs, ${chains} chains in ${seconds} s; ${failedSeeds.length === 0 ? 'no failures' : `failing seeds: ${failedSeeds.join(' ')}`}`);
  if (failedSeeds.length > 0) process.exitCode = 1;
}

main();
