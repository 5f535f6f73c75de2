// Hosting a virtio back end on an I/O thread: the module export the I/O thread calls (through
// lib/devices/io-threads). It views guest memory and the shared transport state from that thread,
// builds the back end from its module and runs it with a BackendRunner until it is quiesced.
import { ConfigError } from '../../../kvm/errors';
import { GuestMemory, type RegionDescriptor } from '../../../memory/guest-memory';
import { DeviceCounters } from '../../counters';
import type { HostContext, HostedHalf } from '../../io-threads/protocol';
import type { BackendContext, BackendModuleSpec, VirtioBackend } from './backend';
import { BackendRunner, type BackendFds } from './backend-runner';
import type { VirtioMmioState } from './mmio-state';
import { VirtioMmioTransport } from './mmio-transport';

export const DEFAULT_BACKEND_EXPORT = 'createBackend';

export interface HostedBackendArgs {
  backend: BackendModuleSpec;
  state: VirtioMmioState;
  memory: RegionDescriptor[];
  fds: BackendFds;
  counters?: { names: readonly string[]; buffer: SharedArrayBuffer };
  /** A back-end state to put back before it starts (restore from a snapshot). */
  restore?: unknown;
}

export function loadBackendFactory(spec: BackendModuleSpec): (context: BackendContext) => VirtioBackend {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const loaded = require(spec.module) as Record<string, unknown>;
  const name = spec.export ?? DEFAULT_BACKEND_EXPORT;
  const make = loaded[name];
  if (typeof make !== 'function') throw new ConfigError(`back-end module ${spec.module} has no function export '${name}'`);
  return (context) => (make as (context: BackendContext, args: unknown) => VirtioBackend)(context, spec.args);
}

/** Runs a BackendRunner as a hosted half (the same code serves main-thread hosting). */
export function runnerHalf(runner: BackendRunner): HostedHalf {
  return {
    pause: () => runner.pause(),
    resume: () => runner.start(),
    quiesce: () => runner.quiesce(),
    saveState: () => runner.backend.saveState?.(),
    reconfigure: (args) => runner.backend.reconfigure?.(args),
  };
}

/** Makes the back end, puts back a saved state, waits until it is ready, then starts serving. */
export async function startRunner(
  make: (context: BackendContext) => VirtioBackend,
  context: Omit<BackendContext, 'signal'>,
  fds: BackendFds,
  onError: (error: Error) => void,
  restore: unknown,
): Promise<BackendRunner> {
  const runner = new BackendRunner(make, context, fds, onError);
  if (restore !== undefined) runner.backend.restoreState?.(restore);
  try {
    await runner.backend.ready?.();
  } catch (error) {
    await runner.quiesce();
    throw error;
  }
  runner.start();
  return runner;
}

export async function hostVirtioBackend(context: HostContext, args: HostedBackendArgs): Promise<HostedHalf> {
  const memory = GuestMemory.attach(args.memory);
  const transport = new VirtioMmioTransport(args.state);
  const counters = args.counters === undefined ? undefined : DeviceCounters.from(args.counters);
  const runner = await startRunner(loadBackendFactory(args.backend), { transport, memory, ...(counters !== undefined ? { counters } : {}) }, args.fds, (error) => context.reportError(error), args.restore);
  return runnerHalf(runner);
}
