// What a virtio device's back end is and what it gets. A back end serves the device's queues on one
// host thread (the main thread, or an I/O thread: see lib/devices/io-threads); the transport state it
// works from is shared with the vCPU threads that handle the register window.
import type { DeviceCounters } from '../../counters';
import type { VirtioMmioTransport } from './mmio-transport';
import type { QueueMemory } from './split-virtqueue';

/** The back end of a virtio device: the code that serves its queues on one host thread. */
export interface VirtioBackend {
  /** Resolves once the back end can serve (e.g. its host socket listens); awaited before the VM runs. */
  ready?(): Promise<void>;
  /** DRIVER_OK: take the queues (transport.queueConfig) and start. */
  activate(): void;
  /** The driver reset the device: drop the queues. */
  reset(): void;
  /** The driver notified `queue` (or the back end is catching up after a pause). */
  notify(queue: number): void;
  /**
   * Stop taking work from host-side sources (a TAP, sockets) until resume(); queue work stops by
   * itself, since the host stops delivering notifications. Used for pause and snapshots.
   */
  pause?(): void;
  /** Take work from host-side sources again after pause(). */
  resume?(): void;
  /**
   * The machine is ending: finish or cancel what is in flight and release what the back end opened
   * itself (servers, sockets, watchers). Nothing may touch guest memory once it resolves.
   */
  quiesce?(): void | Promise<void>;
  /** The back end's own state beyond the transport's (e.g. a connection table), for a snapshot. */
  saveState?(): unknown;
  /** Puts back what saveState() returned (on restore, before activate()). */
  restoreState?(state: unknown): void;
  /**
   * The device's host-side resource changed while the VM runs (a disk's backing file swapped): use
   * `args` (structured-cloneable, like the module's) from now on. Called between turns, never during one.
   */
  reconfigure?(args: unknown): void;
}

/** What a back end gets: the transport, guest memory for its queues, the interrupt and its counters. */
export interface BackendContext {
  /** The device's transport as this thread sees it (status, features, queue configuration). */
  transport: VirtioMmioTransport;
  /** Guest memory, as the queues read and write it. */
  memory: QueueMemory;
  /** Injects the device's interrupt (irqfd). */
  signal: () => void;
  /** Counters the main thread can read while the back end runs elsewhere (see DeviceCounters). */
  counters?: DeviceCounters;
}

/**
 * A back end made on its host thread by a module: `export function <export>(context, args)` returning
 * a VirtioBackend. `args` must be structured-cloneable (fd numbers, paths, SharedArrayBuffers).
 */
export interface BackendModuleSpec {
  /** The module's absolute path. */
  module: string;
  /** Default 'createBackend'. */
  export?: string;
  /** Passed to the export as its second argument; must be structured-cloneable. */
  args?: unknown;
}

/** A back end made on the main thread: called once per device with its context. */
export type BackendFactory = (context: BackendContext) => VirtioBackend;
