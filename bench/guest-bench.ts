// Runs the bundled guest's bench mode (guest/bench.c) against virtio devices in this process and
// times the whole VM at two counts: the difference cancels boot and teardown, leaving the steady
// state. Each run also records the process's CPU time (all threads: vCPU worker, main thread, libuv
// pool) and how a 10 ms interval on the main thread kept up while the guest ran.
import * as fs from 'node:fs';
import { createLinuxMachine } from '../lib/boot/linux-machine';
import type { Device } from '../lib/devices/device';
import { bundledGuestPath } from '../lib/guest/bundled';
import { median } from './stats';

const MEMORY = 64 * 1024 * 1024;
const TICK_MS = 10;

export type GuestBench = 'blk-read' | 'blk-write' | 'net-tx' | 'net-rx' | 'vsock-tx' | 'vsock-rx';

export interface GuestBenchRun {
  bench: GuestBench;
  count: number;
  /** Chains the guest keeps in flight per queue (nodevmm.depth). */
  depth: number;
  /** Fresh devices for each run (a device belongs to one machine). */
  devices: () => Device[];
  cmdline?: string;
  /** Called once the VM runs (e.g. to start feeding it). */
  started?: () => void;
}

/** One timed run: wall time, CPU time and (for guest runs) the main thread's 10 ms ticks. */
export interface Sample {
  ms: number;
  cpuMs: number;
  ticks?: { fired: number; expected: number };
}

/** Starts a CPU clock for this process (every thread); calling the result reads milliseconds since. */
export function cpuMsOf(): () => number {
  const start = process.cpuUsage();
  return () => {
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000;
  };
}

/** Times a synchronous `work()`: the baselines. */
export function timeSync(work: () => void): Sample {
  const cpu = cpuMsOf();
  const started = process.hrtime.bigint();
  work();
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, cpuMs: cpu() };
}

/** Counts the firings of a 10 ms interval on the main thread until stopped. */
function tickCounter(): () => { fired: number; expected: number } {
  let fired = 0;
  const started = process.hrtime.bigint();
  const timer = setInterval(() => fired++, TICK_MS);
  return () => {
    clearInterval(timer);
    return { fired, expected: Math.floor(Number(process.hrtime.bigint() - started) / 1e6 / TICK_MS) };
  };
}

/** One run from start() to the guest's exit; throws unless the guest moved all `count` units. */
export async function timeGuestBench(run: GuestBenchRun): Promise<Sample> {
  const { machine, console: serial } = createLinuxMachine({
    kernel: fs.readFileSync(bundledGuestPath()),
    cmdline: `nodevmm.mode=bench nodevmm.bench=${run.bench} nodevmm.count=${run.count} nodevmm.depth=${run.depth} ${run.cmdline ?? ''}`.trim(),
    memorySize: MEMORY,
    devices: run.devices(),
  });
  let output = '';
  serial.on('data', (chunk: Buffer) => {
    output += chunk.toString('latin1');
  });
  try {
    const cpu = cpuMsOf();
    const ticks = tickCounter();
    const started = process.hrtime.bigint();
    await machine.start();
    run.started?.();
    const exit = await machine.exited;
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const sample = { ms, cpuMs: cpu(), ticks: ticks() };
    if (exit.reason !== 'exited' || exit.status !== 0) throw new Error(`guest ${run.bench} ended ${exit.reason} (status ${exit.status}):\n${output.slice(-400)}`);
    return sample;
  } finally {
    await machine.dispose();
  }
}

const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);

/** A steady-state rate from runs at two counts. */
export interface Rate {
  /** Units per second. */
  perSecond: number;
  /** CPU milliseconds per unit (all threads of the process that did the work). */
  cpuMsPerUnit: number;
  /** The main thread's 10 ms ticks over the large runs, where the runs counted them. */
  ticks?: { fired: number; expected: number };
}

const ATTEMPTS = 3;

/**
 * The rate from the median time at each of two counts (fixed costs cancel), the counts alternating
 * so drift hits both alike; CPU per unit from the medians' CPU the same way. When noise makes the
 * larger count come out no slower, measures again, and after ATTEMPTS throws rather than print a
 * meaningless rate.
 */
export async function measureRate(small: number, large: number, time: (count: number) => Promise<Sample> | Sample): Promise<Rate> {
  for (let attempt = 1; ; attempt++) {
    const smalls: Sample[] = [];
    const larges: Sample[] = [];
    for (let i = 0; i < REPEATS; i++) {
      smalls.push(await time(small));
      larges.push(await time(large));
    }
    const units = large - small;
    const ms = median(larges.map((s) => s.ms)) - median(smalls.map((s) => s.ms));
    if (ms <= 0) {
      if (attempt < ATTEMPTS) continue;
      throw new Error(`${large} units ran no slower than ${small} in ${ATTEMPTS} attempts: the machine is too noisy for these counts (raise them)`);
    }
    const cpuMs = Math.max(median(larges.map((s) => s.cpuMs)) - median(smalls.map((s) => s.cpuMs)), 0);
    const rate: Rate = { perSecond: units / (ms / 1000), cpuMsPerUnit: cpuMs / units };
    const counted = larges.filter((s) => s.ticks !== undefined).map((s) => s.ticks as { fired: number; expected: number });
    if (counted.length > 0) rate.ticks = { fired: counted.reduce((n, t) => n + t.fired, 0), expected: counted.reduce((n, t) => n + t.expected, 0) };
    return rate;
  }
}

/** "main thread: 10 ms interval fired F of E (P%) while the guest ran". */
export function ticksLine(label: string, rate: Rate): string {
  const ticks = rate.ticks;
  if (ticks === undefined) return `${label}: main thread not measured`;
  return `${label} main thread: 10 ms interval fired ${ticks.fired} of ${ticks.expected} (${((100 * ticks.fired) / Math.max(ticks.expected, 1)).toFixed(0)}%) while the guest ran`;
}

/** The depths every guest bench runs at. */
export const BENCH_DEPTHS: readonly number[] = (process.env.BENCH_DEPTHS ?? '1,32').split(',').map(Number);
