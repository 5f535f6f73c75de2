// bench/exit-cost: cost of one port-I/O exit handled by a TypeScript device in a vCPU worker, as a
// ratio against a C loop doing the same KVM work with the same guest, measured in the same run.
// Each side is timed at two iteration counts and the difference is used, so fixed costs (worker
// start-up, VM creation) cancel out. node-vmm runs three ways a round: as configured by default
// (accesses counted by device), with no counting at all, and with KVM_RUN timed as well (timeKvmRun);
// interleaved with the C loop, their order rotated, over EXIT_COST_ROUNDS rounds (default 10).
// Prints each median with its spread, "counting µs/exit D" (default minus none), "KVM_RUN timing
// µs/exit T" (timed minus default), each also as the spread of the rounds' own differences, and
// "exit-cost ratio R" (node-vmm by default / C).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { MachineConfig } from '../../lib/runner/machine';
import { buildGuests, PACKAGE_ROOT } from '../../test/guests/build';
import { outLoopMachine } from '../../test/helpers/machines';
import { median, spread } from '../stats';
import { buildCLoop, cNsPerExit } from './c-loop';

const SMALL = Number(process.env.EXIT_COST_SMALL ?? 20_000);
const LARGE = Number(process.env.EXIT_COST_LARGE ?? 120_000);
const ROUNDS = Number(process.env.EXIT_COST_ROUNDS ?? 10);
const COUNTER_DEVICE = path.join(PACKAGE_ROOT, 'dist', 'test', 'devices', 'counter.js');

type Counting = Pick<MachineConfig, 'countDeviceAccesses' | 'timeKvmRun'>;
const VARIANTS = {
  default: { countDeviceAccesses: true, timeKvmRun: false },
  none: { countDeviceAccesses: false, timeKvmRun: false },
  timed: { countDeviceAccesses: true, timeKvmRun: true },
} satisfies Record<string, Counting>;
type Variant = keyof typeof VARIANTS;
const VARIANT_NAMES = Object.keys(VARIANTS) as Variant[];

async function timeTs(iterations: number, counting: Counting): Promise<number> {
  const counter = new SharedArrayBuffer(4);
  const machine = outLoopMachine(BigInt(iterations), counter, COUNTER_DEVICE, counting);
  try {
    const started = process.hrtime.bigint();
    await machine.start();
    const exit = await machine.exited;
    const elapsed = Number(process.hrtime.bigint() - started);
    const counted = new Int32Array(counter)[0];
    if (exit.reason !== 'halted' || counted !== iterations) throw new Error(`TS run ended ${exit.reason} after ${counted} exits`);
    const [vcpu] = machine.vcpuExitCounts();
    const byDevice = Object.values(vcpu?.byDevice ?? {}).reduce((sum, n) => sum + n, 0);
    if (byDevice !== (counting.countDeviceAccesses === true ? iterations : 0) || (vcpu?.inKvmRunNs !== undefined) !== (counting.timeKvmRun === true)) {
      throw new Error(`counting ${JSON.stringify(counting)} but the vCPU counted ${byDevice} accesses by device, KVM_RUN time ${String(vcpu?.inKvmRunNs)}`);
    }
    return elapsed;
  } finally {
    await machine.dispose();
  }
}

const tsNsPerExit = async (counting: Counting): Promise<number> => ((await timeTs(LARGE, counting)) - (await timeTs(SMALL, counting))) / (LARGE - SMALL);
const us = (ns: number): string => (ns / 1000).toFixed(2);

async function main(): Promise<void> {
  buildGuests();
  const cLoop = buildCLoop();
  try {
    const cPerExit: number[] = [];
    const perExit: Record<Variant, number[]> = { default: [], none: [], timed: [] };
    for (let round = 0; round < ROUNDS; round++) {
      // Interleaved, and the order rotated, so machine noise hits every variant alike.
      const c = cNsPerExit(cLoop, SMALL, LARGE);
      cPerExit.push(c);
      for (let i = 0; i < VARIANT_NAMES.length; i++) {
        const name = VARIANT_NAMES[(round + i) % VARIANT_NAMES.length] as Variant;
        perExit[name].push(await tsNsPerExit(VARIANTS[name]));
      }
      const last = (name: Variant): number => perExit[name][round] as number;
      console.log(`round ${round + 1}: C ${us(c)} µs/exit; node-vmm ${VARIANT_NAMES.map((name) => `${name} ${us(last(name))}`).join(', ')}; ratio ${(last('default') / c).toFixed(3)}`);
    }
    const toUs = (values: number[]): number[] => values.map((ns) => ns / 1000);
    const medians = (name: Variant): number => median(perExit[name]);
    console.log(`C loop: ${spread(toUs(cPerExit), 2)} µs/exit (${ROUNDS} interleaved rounds)`);
    console.log(`node-vmm, counting by device (the default): ${spread(toUs(perExit.default), 2)} µs/exit`);
    console.log(`node-vmm, no counting: ${spread(toUs(perExit.none), 2)} µs/exit`);
    console.log(`node-vmm, counting and KVM_RUN timed: ${spread(toUs(perExit.timed), 2)} µs/exit`);
    // Each round's own difference too: the rounds differ more than the variants within one.
    const paired = (a: Variant, b: Variant): string => spread(perExit[a].map((ns, i) => (ns - (perExit[b][i] as number)) / 1000), 2);
    console.log(`counting µs/exit ${us(medians('default') - medians('none'))} (round by round: ${paired('default', 'none')})`);
    console.log(`KVM_RUN timing µs/exit ${us(medians('timed') - medians('default'))} (round by round: ${paired('timed', 'default')})`);
    console.log(`exit-cost ratio ${(medians('default') / median(cPerExit)).toFixed(3)}`);
  } finally {
    fs.rmSync(cLoop, { force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
