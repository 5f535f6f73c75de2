// vCPU workers started ahead of use. A bare worker_threads Worker takes ~50 ms to start (and more on
// a loaded machine): a pool keeps a few started, their vCPU module and the standard device modules
// already loaded, waiting for a machine to hand them a vCPU (an 'assign' message). A worker serves one
// vCPU and then ends; the pool starts another in its place. Idle workers never keep the process alive.
import * as path from 'node:path';
import { type TransferListItem, Worker } from 'node:worker_threads';
import { ConfigError } from '../kvm/errors';
import type { VcpuWorkerData } from './messages';

const WORKER_PATH = path.join(__dirname, 'vcpu-worker.js');
/** How many vCPU workers are kept started ahead of use unless configureVcpuWorkers() says otherwise. */
export const DEFAULT_VCPU_WORKERS = 2;
/**
 * A vCPU worker allocates little (exits are handled without allocating): a 1 MiB young generation
 * instead of V8's default saves ~0.4 MiB per VM (measured: 8.4 -> 8.0 MiB PSS per clone at its prompt).
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 1 };
export const MAX_VCPU_WORKERS = 1024;

/** What a pooled worker is told to load before it says it is ready (the device modules most VMs use). */
const PRELOAD = ['../devices/legacy/serial/serial-module', '../devices/legacy/i8042/i8042', '../devices/legacy/debug-exit/debug-exit', '../devices/virtio/transport/mmio-module'].map((m) => path.join(__dirname, `${m}.js`));

export interface PooledWorkerData {
  pooled: true;
  preload: string[];
}

export type AssignMessage = { type: 'assign'; data: VcpuWorkerData };

interface Idle {
  worker: Worker;
  ready: Promise<boolean>;
}

let size = DEFAULT_VCPU_WORKERS;
const idle: Idle[] = [];
let started = 0;

function startOne(): Idle {
  const worker = new Worker(WORKER_PATH, { workerData: { pooled: true, preload: PRELOAD } satisfies PooledWorkerData, name: 'vcpu (pooled)', resourceLimits: WORKER_LIMITS });
  worker.unref();
  started++;
  const entry: Idle = {
    worker,
    ready: new Promise<boolean>((resolve) => {
      worker.once('message', (message: unknown) => resolve(message === 'pooled-ready'));
      worker.once('error', () => resolve(false));
      worker.once('exit', () => resolve(false));
    }),
  };
  // A pooled worker that dies while idle (it should not) leaves the pool.
  worker.once('exit', () => {
    const index = idle.indexOf(entry);
    if (index >= 0) idle.splice(index, 1);
  });
  return entry;
}

function refill(): void {
  while (idle.length < size) idle.push(startOne());
}

/**
 * How many vCPU workers to keep started ahead of use (default 2; 0 starts each when needed).
 * @throws {@link ConfigError} when `size` is not a whole number in range.
 */
export function configureVcpuWorkers(options: { size: number }): void {
  if (!Number.isInteger(options.size) || options.size < 0 || options.size > MAX_VCPU_WORKERS) throw new ConfigError(`vCPU workers: a whole number from 0 to ${MAX_VCPU_WORKERS}, not ${options.size}`);
  size = options.size;
  while (idle.length > size) void (idle.pop() as Idle).worker.terminate();
  refill();
}

/**
 * A machine of `vcpus` vCPUs is being set up: starts pooled workers for them now, if the pool (up to its
 * size) has fewer idle ones, so they boot while the VM is made. Leaves the rest of the refill for later
 * (see refillAfterSetUp): starting the whole pool at every VM would boot Workers during every burst.
 * @internal
 * @throws Nothing.
 */
export function prestartVcpuWorkers(vcpus: number): void {
  while (idle.length < Math.min(vcpus, size)) idle.push(startOne());
}

/**
 * Starts the pool's workers now; resolves once they are all ready (the time a pool costs).
 * @throws Nothing.
 */
export async function warmVcpuWorkers(): Promise<void> {
  refill();
  await Promise.all(idle.map((entry) => entry.ready));
}

/**
 * How many vCPU workers are kept started ahead of use.
 * @throws Nothing.
 */
export function vcpuWorkerPoolSize(): number {
  return size;
}

/** Workers the pool has started since the process began (tests and benches count them). */
export function vcpuWorkersStarted(): number {
  return started;
}

/**
 * A worker running `data`'s vCPU: a pooled one when one is ready (or about to be), a fresh one
 * otherwise. The pool starts a replacement behind it.
 */
export async function vcpuWorker(data: VcpuWorkerData, transferList: TransferListItem[]): Promise<Worker> {
  let entry = idle.shift();
  if (entry !== undefined && !(await entry.ready)) entry = undefined;
  let worker: Worker;
  if (entry === undefined) {
    worker = new Worker(WORKER_PATH, { workerData: data, transferList, name: `vcpu-${data.vcpuIndex}`, resourceLimits: WORKER_LIMITS });
  } else {
    worker = entry.worker;
    worker.ref();
    worker.postMessage({ type: 'assign', data } satisfies AssignMessage, transferList);
  }
  refillAfterSetUp(worker);
  return worker;
}

let refilling = false;

/** Starts the missing workers one after the other (each once the previous is ready): at most one core booting. */
function refillOneByOne(): void {
  if (refilling || idle.length >= size) return;
  refilling = true;
  const entry = startOne();
  idle.push(entry);
  void entry.ready.then(() => {
    refilling = false;
    refillOneByOne();
  });
}

/** A burst of VM starts takes from the pool without refilling it until this long after the last one. */
const REFILL_QUIET_MS = 100;
let refillTimer: NodeJS.Timeout | undefined;

/**
 * Starts the replacements once this worker has set its vCPU up (its first message) or ended, and once
 * no other VM has started for REFILL_QUIET_MS (at once when the pool is empty), one at a time: a Worker
 * booting meanwhile takes the main thread and a core from the VMs starting and running now (measured
 * here: restores of 15-23 ms with the refill at once, 15-16 ms after the set-up; 100 clones restored in
 * 5.7 s while the pool refilled behind each, 0.9 s with the refill after the burst).
 */
function refillAfterSetUp(worker: Worker): void {
  const later = (): void => {
    worker.off('message', later);
    worker.off('exit', later);
    if (refillTimer !== undefined) clearTimeout(refillTimer);
    refillTimer = setTimeout(
      () => {
        refillTimer = undefined;
        refillOneByOne();
      },
      idle.length === 0 ? 0 : REFILL_QUIET_MS,
    );
    refillTimer.unref();
  };
  worker.on('message', later);
  worker.on('exit', later);
}
