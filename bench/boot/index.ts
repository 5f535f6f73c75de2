// bench/boot: how fast the public API boots the bundled guest. Prints the median time from
// createVm() to the guest's ready line, create-run-destroy cycles per second (self-test runs to their
// exit), and, for scale, the per-exit time of bench/exit-cost's C loop doing bare KVM port-I/O exits
// on this host.
import * as fs from 'node:fs';
import { createVm } from '../../lib/api/create-vm';
import { BUNDLED_GUEST_READY_MARKER, BUNDLED_GUEST_SELFTEST_CMDLINE, bundledGuestPath } from '../../lib/guest/bundled';
import { buildGuests } from '../../test/guests/build';
import { buildCLoop, cNsPerExit } from '../exit-cost/c-loop';
import { median } from '../stats';

const RUNS = Number(process.env.BOOT_RUNS ?? 7);
const CYCLES = Number(process.env.BOOT_CYCLES ?? 10);
const READY = BUNDLED_GUEST_READY_MARKER;

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

async function timeToReady(): Promise<number> {
  const started = nowMs();
  const vm = await createVm();
  try {
    const ready = new Promise<number>((resolve, reject) => {
      let output = '';
      vm.console.on('data', (chunk: Buffer) => {
        output += chunk.toString('latin1');
        if (output.includes(READY)) resolve(nowMs() - started);
      });
      void vm.exited.then((exit) => reject(new Error(`the guest ended (${exit.reason}) before "${READY}"; output:\n${output}`)));
    });
    await vm.start();
    return await ready;
  } finally {
    await vm.dispose();
  }
}

async function cycle(): Promise<void> {
  const vm = await createVm({ cmdline: BUNDLED_GUEST_SELFTEST_CMDLINE, memoryMiB: 32 });
  try {
    vm.console.resume(); // discard its output
    await vm.start();
    const exit = await vm.exited;
    if (exit.reason !== 'exited' || exit.status !== 0) throw new Error(`self-test ended ${exit.reason} status ${exit.status}`);
  } finally {
    await vm.dispose();
  }
}

/** µs per port-I/O exit of the C loop, or why it could not run. */
function cLoopMicrosPerExit(): number | string {
  let binary: string | undefined;
  try {
    buildGuests();
    binary = buildCLoop();
    const loop = binary;
    return median(Array.from({ length: 3 }, () => cNsPerExit(loop, 20_000, 120_000) / 1000));
  } catch (error) {
    return `unavailable (${(error as Error).message.split('\n')[0]})`;
  } finally {
    if (binary !== undefined) fs.rmSync(binary, { force: true });
  }
}

async function main(): Promise<void> {
  if (!fs.existsSync(bundledGuestPath())) throw new Error(`the bundled guest ${bundledGuestPath()} is missing: npm run build:guest`);
  await timeToReady(); // warm-up: loads the addon, compiles the worker code
  const readyMs: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const ms = await timeToReady();
    readyMs.push(ms);
    console.log(`run ${run + 1}: ${ms.toFixed(1)} ms from createVm() to "${READY}"`);
  }
  const started = nowMs();
  for (let i = 0; i < CYCLES; i++) await cycle();
  const seconds = (nowMs() - started) / 1000;
  console.log(`boot to ready: median ${median(readyMs).toFixed(1)} ms over ${RUNS} runs (min ${Math.min(...readyMs).toFixed(1)}, max ${Math.max(...readyMs).toFixed(1)})`);
  console.log(`create-run-destroy (self-test to exit): ${(CYCLES / seconds).toFixed(2)} cycles/s over ${CYCLES} cycles`);
  const c = cLoopMicrosPerExit();
  console.log(`for scale, bench/exit-cost C loop: ${typeof c === 'number' ? `${c.toFixed(2)} µs per bare KVM port-I/O exit` : c}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
