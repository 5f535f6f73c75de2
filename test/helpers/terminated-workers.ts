// Runs a loop that creates native resources in worker threads and terminates each worker at a random
// moment. Once terminate() is called, Node refuses every further call into JS from that worker, so
// the addon's step after a system call (wrapping its fd or mapping in a JS object) fails there: the
// termination lands between the two in some of the runs. What the addon made must then be released
// on the spot, and what JS objects already own is released when the worker's environment is torn
// down; either way nothing may stay behind once the workers are gone. Mappings are counted by name
// (a memfd's, a vCPU's kvm_run): the total count grows with every new thread by glibc's malloc
// arenas and V8's pages, which stay for later threads.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { warmVcpuWorkers } from '../../lib/runner/worker-pool';
import { mappingCount, openFdCount } from './kvm';
import { Prng } from './prng';

const BINDING = path.join(__dirname, '..', '..', 'lib', 'native', 'binding.js');

export interface TerminationRun {
  workers: number;
  /** Loop iterations the workers completed before they were terminated, summed. */
  iterations: number;
  fdsBefore: number;
  fdsAfter: number;
  mapsBefore: number;
  mapsAfter: number;
  /** Lines of /proc/self/maps naming `mappingName` once the workers are gone. */
  namedMappingsAfter: number;
}

/**
 * `body` is the source of a function `(addon, state) => void`, called in a loop; `state` is an object
 * it may keep things in across iterations. Each worker runs it for a random 0-`maxMs` ms.
 */
export async function terminateWhileCreating(
  body: string,
  options: { workers: number; maxMs: number; seed: number; mappingName: string },
): Promise<TerminationRun> {
  const random = new Prng(options.seed);
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const addon = require(workerData.binding).native();
    const body = ${body};
    const state = {};
    const counter = new Int32Array(workerData.counter);
    body(addon, state);
    parentPort.postMessage('looping');
    for (;;) { body(addon, state); Atomics.add(counter, 0, 1); }
  `;
  const counter = new Int32Array(new SharedArrayBuffer(4));
  const runOne = async (): Promise<void> => {
    const worker = new Worker(code, { eval: true, workerData: { binding: BINDING, counter: counter.buffer } });
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    const failed = new Promise<never>((_, reject) => worker.once('error', reject));
    await Promise.race([new Promise<void>((resolve) => worker.once('message', () => resolve())), failed]);
    await new Promise((resolve) => setTimeout(resolve, (random.u32() / 2 ** 32) * options.maxMs));
    await worker.terminate();
    await exited;
  };
  // One worker first: the first thread's exit leaves a malloc arena and V8 pages that later ones reuse.
  await runOne();
  // The vCPU worker pool refills after VMs of earlier tests started; its idle workers hold fds of their own.
  await warmVcpuWorkers();
  const fdsBefore = openFdCount();
  const mapsBefore = mappingCount();
  const before = Atomics.load(counter, 0);
  for (let i = 0; i < options.workers; i++) await runOne();
  await warmVcpuWorkers();
  return {
    workers: options.workers,
    iterations: Atomics.load(counter, 0) - before,
    fdsBefore,
    fdsAfter: openFdCount(),
    mapsBefore,
    mapsAfter: mappingCount(),
    namedMappingsAfter: fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((line) => line.includes(options.mappingName)).length,
  };
}
