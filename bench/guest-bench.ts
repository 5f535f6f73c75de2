// Runs the bundled guest's bench mode (guest/bench.c) against virtio devices and times the whole VM
// at two counts: the difference cancels boot and teardown, leaving the steady-state rate.
import * as fs from 'node:fs';
import { createLinuxMachine } from '../lib/boot/linux-machine';
import type { Device } from '../lib/devices/device';
import { bundledGuestPath } from '../lib/guest/bundled';
import { median } from './stats';

const MEMORY = 64 * 1024 * 1024;

export type GuestBench = 'blk-read' | 'blk-write' | 'net-tx' | 'net-rx' | 'vsock-tx' | 'vsock-rx';

export interface GuestBenchRun {
  bench: GuestBench;
  count: number;
  /** Fresh devices for each run (a device belongs to one machine). */
  devices: () => Device[];
  cmdline?: string;
  /** Called once the VM runs (e.g. to start feeding it). */
  started?: () => void;
}

/** Milliseconds from start() to the guest's exit; throws unless the guest moved all `count` units. */
export async function timeGuestBench(run: GuestBenchRun): Promise<number> {
  const { machine, console: serial } = createLinuxMachine({
    kernel: fs.readFileSync(bundledGuestPath()),
    cmdline: `nodevmm.mode=bench nodevmm.bench=${run.bench} nodevmm.count=${run.count} ${run.cmdline ?? ''}`.trim(),
    memorySize: MEMORY,
    devices: run.devices(),
  });
  let output = '';
  serial.on('data', (chunk: Buffer) => {
    output += chunk.toString('latin1');
  });
  try {
    const started = process.hrtime.bigint();
    await machine.start();
    run.started?.();
    const exit = await machine.exited;
    const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
    if (exit.reason !== 'exited' || exit.status !== 0) throw new Error(`guest ${run.bench} ended ${exit.reason} (status ${exit.status}):\n${output.slice(-400)}`);
    return elapsed;
  } finally {
    await machine.dispose();
  }
}

/** Units per second from runs at two counts (fixed costs cancel). */
function rate(smallCount: number, smallMs: number, largeCount: number, largeMs: number): number {
  return (largeCount - smallCount) / (Math.max(largeMs - smallMs, 1e-3) / 1000);
}

const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);

/**
 * Units per second from the median time at each of two counts, the counts alternating so drift
 * hits both alike. `time(count)` runs once and returns milliseconds.
 */
export async function measureRate(small: number, large: number, time: (count: number) => Promise<number> | number): Promise<number> {
  const smallMs: number[] = [];
  const largeMs: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    smallMs.push(await time(small));
    largeMs.push(await time(large));
  }
  return rate(small, median(smallMs), large, median(largeMs));
}
