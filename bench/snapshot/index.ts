// bench/snapshot: restore is the VMM's work, so it is timed without the guest's own slowness here
// (on nested PVM the bundled guest's shell takes 8-17 ms to echo a line: its interrupt handling runs
// in emulated ring 0). The guest runs its marker loop (nodevmm.bench=marker: ring 3, an MMIO write
// every ~100 µs that bench/devices/marker counts), and a restore is timed until the restored guest's
// first marker. Cold start and restore use the same pre-started vCPU worker pool (its size printed;
// whole again before each timed run);
// KVM_CREATE_VM and vCPU creation are inside every timed restore. Prints, in one run:
//   cold createVm() + start() to the guest's first console byte (median);
//   restoreVm() until the first marker, from memory and from files (medians), each step apart, and
//   `restore ratio R` = in-memory restore / cold start;
//   the time to snapshot a 64 MiB and a 1 GiB guest with its memory touched;
//   100 clones of a shell-prompt snapshot: first restoreVm() to the last clone's echo;
//   memory per extra clone at its prompt, as PSS (shared snapshot pages count once).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createVm } from '../../lib/api/create-vm';
import { restoreVm, type RestoreStep } from '../../lib/api/restore-vm';
import type { VirtualMachine } from '../../lib/api/virtual-machine';
import { Kvm } from '../../lib/kvm/kvm';
import { configureVcpuWorkers, warmVcpuWorkers } from '../../lib/runner/worker-pool';
import { GuestShell } from '../../test/helpers/guest-shell';
import { BenchMarkerDevice } from '../devices/marker/device';
import { median } from '../stats';

const RUNS = Number(process.env.SNAPSHOT_RUNS ?? 11);
const POOL = Number(process.env.SNAPSHOT_POOL ?? 4);
const CLONES = Number(process.env.SNAPSHOT_CLONES ?? 100);
const PSS_CLONES = Number(process.env.SNAPSHOT_PSS_CLONES ?? 10);
const MARKER_CMDLINE = 'nodevmm.mode=bench nodevmm.bench=marker';
const MiB = 1024 * 1024;
const TOUCH_FROM = 16 * MiB; // the bundled guest lives below this

/** The previous run's teardown (its VM fd closed off the main thread, its worker's exit) may take this long. */
const TEARDOWN_MS = 50;

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const ms = (value: number): string => `${value.toFixed(2)} ms`;

function pssMiB(): number {
  const match = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/smaps_rollup', 'utf8'));
  return Number(match?.[1] ?? 0) / 1024;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Before each timed cold start or restore: the pool is whole again (its replacements started after the
 * previous run are ready) and the previous run's teardown is over, so a run is timed against a
 * pre-started pool on an otherwise idle process, not against the boot of the next pooled worker.
 */
async function betweenRuns(): Promise<void> {
  await warmVcpuWorkers();
  await new Promise((resolve) => setTimeout(resolve, TEARDOWN_MS));
}

async function poolReady(size: number): Promise<number> {
  configureVcpuWorkers({ size });
  const started = nowMs();
  await warmVcpuWorkers();
  return nowMs() - started;
}

/** createVm() + start() until the guest's first console byte. */
async function coldStart(): Promise<number> {
  const started = nowMs();
  const vm = await createVm({ memoryMiB: 64, cmdline: MARKER_CMDLINE });
  try {
    const firstByte = new Promise<number>((resolve) => vm.console.once('data', () => resolve(nowMs() - started)));
    await vm.start();
    return await firstByte;
  } finally {
    await vm.dispose();
  }
}

/** A VM in its marker loop, past its first marker. */
async function markerVm(memoryMiB: number): Promise<{ vm: VirtualMachine; marker: BenchMarkerDevice }> {
  const marker = new BenchMarkerDevice();
  const vm = await createVm({ memoryMiB, cmdline: MARKER_CMDLINE, devices: [marker] });
  vm.console.resume();
  await vm.start();
  await marker.firstMarker;
  return { vm, marker };
}

/** restoreVm() until the restored guest's first marker, with the steps. */
async function timedRestore(source: Parameters<typeof restoreVm>[0]): Promise<{ total: number; steps: Partial<Record<RestoreStep | 'first marker', number>> }> {
  const marker = new BenchMarkerDevice();
  const steps: Partial<Record<RestoreStep | 'first marker', number>> = {};
  const started = nowMs();
  const vm = await restoreVm(source, { devices: [marker], timings: steps });
  const restored = nowMs();
  try {
    await marker.firstMarker;
    const total = nowMs() - started;
    steps['first marker'] = nowMs() - restored;
    return { total, steps };
  } finally {
    await vm.dispose();
  }
}

function medianSteps(runs: { steps: Partial<Record<string, number>> }[]): string {
  const names = Object.keys(runs[0]?.steps ?? {}).filter((name) => name !== 'total');
  return names.map((name) => `${name} ${ms(median(runs.map((run) => run.steps[name] ?? 0)))}`).join(', ');
}

function kvmCreateVmMs(): number {
  const kvm = Kvm.open();
  try {
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const started = nowMs();
      const vm = kvm.createVm();
      times.push(nowMs() - started);
      vm.close();
    }
    return median(times);
  } finally {
    kvm.close();
  }
}

/** Writes every page of guest RAM above the bundled guest (as the host: recorded as written). */
function touchMemory(vm: VirtualMachine): void {
  const page = new Uint8Array(4096).fill(0x5a);
  for (const region of vm.machine.memory.regions) {
    for (let at = Math.max(region.guestAddress, TOUCH_FROM); at < region.guestAddress + region.size; at += page.length) vm.machine.memory.writeBytes(at, page);
  }
}

async function snapshotTimes(memoryMiB: number, dir: string): Promise<string> {
  const { vm } = await markerVm(memoryMiB);
  try {
    touchMemory(vm);
    const inMemory: number[] = [];
    const toFiles: number[] = [];
    for (let i = 0; i < 3; i++) {
      let started = nowMs();
      const snapshot = await vm.snapshot();
      inMemory.push(nowMs() - started);
      snapshot.dispose();
      started = nowMs();
      await vm.snapshot({ path: path.join(dir, `touched-${memoryMiB}`) });
      toFiles.push(nowMs() - started);
    }
    return `snapshot of a ${memoryMiB} MiB guest, memory touched: ${ms(median(inMemory))} in memory, ${ms(median(toFiles))} to files`;
  } finally {
    await vm.dispose();
  }
}

async function clonesAnswering(): Promise<void> {
  const vm = await createVm({ memoryMiB: 48 });
  const shell = new GuestShell(vm);
  await vm.start();
  await shell.prompt();
  const snapshot = await vm.snapshot();
  await vm.dispose();
  const poolMs = await poolReady(CLONES);
  const clones: VirtualMachine[] = [];
  try {
    const started = nowMs();
    for (let i = 0; i < CLONES; i++) clones.push(await restoreVm(snapshot));
    const restored = nowMs() - started;
    await Promise.all(clones.map((clone, i) => new GuestShell(clone).run(`echo clone ${i}`, 120_000)));
    const answered = nowMs() - started;
    console.log(`${CLONES} clones: pool of ${CLONES} started in ${ms(poolMs)} (not counted); first restoreVm() to the last clone's echo ${ms(answered)} (restores ${ms(restored)})`);
  } finally {
    await Promise.all(clones.map((clone) => clone.dispose()));
  }
  configureVcpuWorkers({ size: POOL });
  const pssClones: VirtualMachine[] = [];
  try {
    const warm = await restoreVm(snapshot);
    await new GuestShell(warm).run('echo warm');
    pssClones.push(warm);
    await settle();
    const before = pssMiB();
    for (let i = 0; i < PSS_CLONES; i++) {
      const clone = await restoreVm(snapshot);
      await new GuestShell(clone).run('echo at the prompt');
      pssClones.push(clone);
    }
    await settle();
    const after = pssMiB();
    console.log(`PSS per extra clone at its prompt: ${((after - before) / PSS_CLONES).toFixed(2)} MiB (${PSS_CLONES} clones: ${before.toFixed(1)} -> ${after.toFixed(1)} MiB)`);
  } finally {
    await Promise.all(pssClones.map((clone) => clone.dispose()));
    snapshot.dispose();
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-vmm-bench-snapshot-'));
  try {
    const poolMs = await poolReady(POOL);
    console.log(`vCPU worker pool: ${POOL} workers, started in ${ms(poolMs)}; load average ${os.loadavg()[0]?.toFixed(2)}`);
    await coldStart(); // warm-up: module caches, the I/O thread
    const cold: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await betweenRuns();
      cold.push(await coldStart());
    }
    const coldMs = median(cold);
    console.log(`cold createVm() + start() to the first console byte: ${ms(coldMs)} (median of ${RUNS})`);

    const { vm } = await markerVm(64);
    const snapshot = await vm.snapshot();
    const files = path.join(dir, 'marker');
    await vm.snapshot({ path: files });
    await vm.dispose();
    await timedRestore(snapshot); // warm-up
    const fromMemory: Awaited<ReturnType<typeof timedRestore>>[] = [];
    const fromFiles: Awaited<ReturnType<typeof timedRestore>>[] = [];
    for (let i = 0; i < RUNS; i++) {
      await betweenRuns();
      fromMemory.push(await timedRestore(snapshot));
      await betweenRuns();
      fromFiles.push(await timedRestore({ path: files }));
    }
    snapshot.dispose();
    const memoryMs = median(fromMemory.map((run) => run.total));
    console.log(`restoreVm() until the first marker, in-memory snapshot: ${ms(memoryMs)} (median of ${RUNS}; ${medianSteps(fromMemory)})`);
    console.log(`restoreVm() until the first marker, from files: ${ms(median(fromFiles.map((run) => run.total)))} (${medianSteps(fromFiles)})`);
    console.log(`KVM_CREATE_VM alone: ${ms(kvmCreateVmMs())} (inside 'machine' above)`);
    console.log(`restore ratio ${(memoryMs / coldMs).toFixed(3)}`);

    console.log(await snapshotTimes(64, dir));
    console.log(await snapshotTimes(1024, dir));
    await clonesAnswering();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
