// bench/exit-cost: cost of one port-I/O exit handled by a TypeScript device in a vCPU worker, as a
// ratio against a C loop doing the same KVM work with the same guest, measured in the same run.
// Each side is timed at two iteration counts and the difference is used, so fixed costs (worker
// start-up, VM creation) cancel out. Prints "exit-cost ratio R" (TS / C).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildGuests, PACKAGE_ROOT } from '../../test/guests/build';
import { outLoopMachine } from '../../test/helpers/machines';
import { median } from '../stats';
import { buildCLoop, cNsPerExit } from './c-loop';

const SMALL = Number(process.env.EXIT_COST_SMALL ?? 20_000);
const LARGE = Number(process.env.EXIT_COST_LARGE ?? 120_000);
const ROUNDS = Number(process.env.EXIT_COST_ROUNDS ?? 5);
const COUNTER_DEVICE = path.join(PACKAGE_ROOT, 'dist', 'test', 'devices', 'counter.js');

async function timeTs(iterations: number): Promise<number> {
  const counter = new SharedArrayBuffer(4);
  const machine = outLoopMachine(BigInt(iterations), counter, COUNTER_DEVICE);
  try {
    const started = process.hrtime.bigint();
    await machine.start();
    const exit = await machine.exited;
    const elapsed = Number(process.hrtime.bigint() - started);
    const counted = new Int32Array(counter)[0];
    if (exit.reason !== 'halted' || counted !== iterations) throw new Error(`TS run ended ${exit.reason} after ${counted} exits`);
    return elapsed;
  } finally {
    await machine.dispose();
  }
}

async function main(): Promise<void> {
  buildGuests();
  const cLoop = buildCLoop();
  try {
    const cPerExit: number[] = [];
    const tsPerExit: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Interleave the two so machine noise hits both alike.
      const c = cNsPerExit(cLoop, SMALL, LARGE);
      const ts = ((await timeTs(LARGE)) - (await timeTs(SMALL))) / (LARGE - SMALL);
      cPerExit.push(c);
      tsPerExit.push(ts);
      console.log(`round ${round + 1}: C ${(c / 1000).toFixed(2)} µs/exit, node-vmm ${(ts / 1000).toFixed(2)} µs/exit, ratio ${(ts / c).toFixed(3)}`);
    }
    const c = median(cPerExit);
    const ts = median(tsPerExit);
    console.log(`C loop: ${(c / 1000).toFixed(2)} µs/exit; node-vmm (TS device in a vCPU worker): ${(ts / 1000).toFixed(2)} µs/exit (medians of ${ROUNDS})`);
    console.log(`exit-cost ratio ${(ts / c).toFixed(3)}`);
  } finally {
    fs.rmSync(cLoop, { force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
