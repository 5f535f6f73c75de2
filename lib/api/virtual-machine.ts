// VirtualMachine: the public handle on one Linux-booting VM (see createVm). It wraps a Machine (the
// runner) and its serial console; each instance owns its own /dev/kvm fd, VM, memory and threads.
// (The name `Vm` belongs to the low-level KVM VM-fd wrapper in lib/kvm/vm.ts.)
import { EventEmitter } from 'node:events';
import type { AssembledMachine } from '../boot/linux-machine';
import type { Device } from '../devices/device';
import type { DeviceManager } from '../devices/manager';
import { I8042Device } from '../devices/legacy/i8042/device';
import { VirtioBlkDevice } from '../devices/virtio/blk/device';
import type { SerialConsole } from '../devices/legacy/serial/serial-console';
import { ClosedError, DeviceError } from '../kvm/errors';
import type { Machine } from '../runner/machine';
import './dispose-symbol';
import { VmAbortError } from './errors';
import { captureState } from './snapshot/capture';
import { SnapshotError } from './snapshot/errors';
import { type SnapshotFiles, writeSnapshotFiles } from './snapshot/files';
import { PageTracker, writeMemoryImage } from './snapshot/memory-image';
import { recipeOf } from './snapshot/recipe';
import type { VmRecipe } from './snapshot/state';
import { VmSnapshot } from './snapshot/vm-snapshot';
import { toVmExit, VmExit } from './vm-exit';
import { collectMetrics, type VmLatency, type VmMetrics } from './vm-metrics';

/** The events a VirtualMachine emits, with their arguments. */
export interface VirtualMachineEvents {
  /** The vCPUs run. */
  start: [];
  /** Every vCPU is parked (pause()). */
  pause: [];
  /** The vCPUs run again (resume()). */
  resume: [];
  /** The VM ended: how. */
  exit: [exit: VmExit];
}

/** @internal How a VM was made, for snapshots: its recipe's machine part and the pages it holds. */
export interface VmOrigin {
  machine: Omit<VmRecipe, 'disks' | 'networks' | 'vsock' | 'rng' | 'custom'>;
  /** For a restored VM: the pages its snapshot held. */
  presentPages?: readonly (readonly number[])[];
}

/**
 * A running (or ready) VM made by createVm() or restoreVm(): its console, devices, lifecycle, snapshots and how it
 * ended.
 */
export class VirtualMachine extends EventEmitter<VirtualMachineEvents> {
  /** The guest's COM1: read what it prints, write what it should receive. */
  readonly console: SerialConsole;
  /** Resolves once, when every vCPU has ended (after stop(), or on the guest's own). */
  readonly exited: Promise<VmExit>;
  readonly #machine: Machine;
  readonly #devices: DeviceManager;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => {
    void this.stop();
  };
  readonly #cmdline: string;
  readonly #origin: VmOrigin;
  readonly #tracker: PageTracker;
  #started = false;
  readonly #latencies: Partial<Record<VmLatency, number>> = {};
  #disposal: Promise<void> | undefined;
  /** A pause(), resume() or snapshot() in progress: they run one at a time. */
  #lifecycle: Promise<unknown> = Promise.resolve();

  /**
   * Wraps an assembled machine; use createVm() or restoreVm() instead.
   * @internal Use createVm() or restoreVm().
   * @throws Nothing.
   */
  constructor(linux: AssembledMachine, origin: VmOrigin, signal?: AbortSignal) {
    super();
    this.#origin = origin;
    this.#tracker = new PageTracker(linux.machine.memory, origin.presentPages);
    this.#machine = linux.machine;
    this.#devices = linux.devices;
    this.console = linux.console;
    this.#cmdline = linux.cmdline;
    this.#signal = signal;
    this.exited = linux.machine.exited.then((exit) => {
      this.#signal?.removeEventListener('abort', this.#onAbort);
      const vmExit = toVmExit(exit);
      this.emit('exit', vmExit);
      return vmExit;
    });
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Every device of the VM (the standard ones first, then disks, networks, vsock, rng, custom), placed. */
  get devices(): readonly Device[] {
    return this.#devices.devices;
  }

  /**
   * The device with this id ('blk0', a disk's given id, 'serial0', ...).
   * @throws Nothing.
   */
  device(id: string): Device | undefined {
    return this.#devices.byId(id);
  }

  /** The low-level Machine underneath (its vCPU threads, guest memory, KVM objects): for tools and tests. */
  get machine(): Machine {
    return this.#machine;
  }

  /** The kernel command line the guest was given (with the devices' entries). */
  get cmdline(): string {
    return this.#cmdline;
  }

  /** Number of vCPUs. */
  get vcpus(): number {
    return this.#machine.vcpuCount;
  }

  /**
   * The VM's counters now: exits per vCPU (by reason and direction), each counting device's
   * counters by id (blk bytes and requests, net frames and bytes, vsock, rng) and the last lifecycle
   * latencies. Cheap: it reads shared counters, nothing stops.
   * @throws Nothing.
   */
  metrics(): VmMetrics {
    return collectMetrics(this.#machine, this.#devices.devices, this.#latencies);
  }

  /**
   * Records how long a lifecycle operation took, for metrics() (restoreVm records 'restore'). Internal.
   * @internal
   * @throws Nothing.
   */
  recordLatency(name: VmLatency, started: bigint): void {
    this.#latencies[name] = Number((process.hrtime.bigint() - started) / 1000n);
  }

  /**
   * Presses Ctrl-Alt-Del on the guest's keyboard (the i8042), as Firecracker's `SendCtrlAltDel` action: Linux
   * (and the bundled guest) reboot on it, which ends the VM with reason `reset`.
   * @throws {@link DeviceError} when the VM is not running, or the keys sent before are still unread.
   */
  sendCtrlAltDel(): void {
    if (this.#machine.phase !== 'running') throw new DeviceError('Ctrl-Alt-Del needs a running VM');
    const keyboard = this.#devices.devices.find((d): d is I8042Device => d instanceof I8042Device);
    if (keyboard === undefined) throw new DeviceError('this VM has no i8042 keyboard controller');
    keyboard.sendCtrlAltDel();
  }

  /**
   * Swaps the backing file of disk `id` while the VM runs (paused or not), as Firecracker's `PATCH /drives/{id}`:
   * see {@link VirtioBlkDevice.swapFile}. Snapshots taken afterwards name the new file.
   * @throws {@link DeviceError} when the VM is not running or has no disk `id`.
   * @throws {@link ConfigError} when the new file cannot be opened or another VM holds it (the disk keeps its file).
   */
  swapDisk(id: string, path: string): Promise<void> {
    return this.#serialized(async () => {
      if (this.#machine.phase !== 'running') throw new DeviceError(`disk ${id}: its file can only be swapped while the VM runs`);
      const disk = this.#devices.byId(id);
      if (!(disk instanceof VirtioBlkDevice)) throw new DeviceError(`this VM has no disk ${id}`);
      await disk.swapFile(path);
    });
  }

  /** True between pause() and resume() (and for a VM restored with `paused: true`). */
  get paused(): boolean {
    return this.#machine.paused;
  }

  /**
   * Stops the guest where it is: every vCPU leaves KVM_RUN and parks (using no CPU), and the devices
   * stop serving their queues, so nothing writes guest memory. Emits 'pause'. A no-op unless running.
   * @throws Nothing: a VM that is not running is left as it is.
   */
  pause(): Promise<void> {
    return this.#serialized(async () => {
      if (this.#machine.phase !== 'running' || this.#machine.paused) return;
      const started = process.hrtime.bigint();
      await this.#machine.pause();
      this.recordLatency('pause', started);
      if (this.#machine.paused) this.emit('pause');
    });
  }

  /**
   * Lets a paused guest go on from where it stopped. Emits 'resume'. A no-op unless paused.
   * @throws Nothing.
   */
  resume(): Promise<void> {
    return this.#serialized(async () => {
      if (!this.#machine.paused) return;
      const started = process.hrtime.bigint();
      await this.#machine.resume();
      this.recordLatency('resume', started);
      this.emit('resume');
    });
  }

  /**
   * Captures the whole machine: vCPUs, interrupt controllers, PIT, clock, devices and guest memory (the
   * pages ever written). A running VM is paused for the capture and resumed after; a paused one stays
   * paused. Without arguments the snapshot stays in memory (restore it, clone it, dispose() it); with
   * `{ statePath, memoryPath }` (or `{ path }`, a directory for both) it is written to files.
   * @throws SnapshotError: the VM is not running ('NOT_AVAILABLE') or the files cannot be written ('IO').
   */
  snapshot(): Promise<VmSnapshot>;
  snapshot(files: SnapshotFiles): Promise<void>;
  snapshot(files?: SnapshotFiles): Promise<VmSnapshot | void> {
    return this.#serialized(async () => {
      if (this.#machine.phase !== 'running') throw new SnapshotError('NOT_AVAILABLE', `a snapshot needs a running VM, this one is ${this.#machine.phase}`);
      const wasPaused = this.#machine.paused;
      const started = process.hrtime.bigint();
      if (!wasPaused) await this.#machine.pause();
      try {
        const recipe = recipeOf(this.#origin.machine, this.#devices.devices);
        const state = await captureState({ machine: this.#machine, devices: this.#devices, recipe, tracker: this.#tracker });
        if (files !== undefined) {
          writeSnapshotFiles(files, state, this.#machine.memory);
          this.recordLatency('snapshot', started);
          return undefined;
        }
        const memory = VmSnapshot.createMemory();
        try {
          writeMemoryImage(this.#machine.memory, state.memory, memory.fd);
        } catch (error) {
          memory.close();
          throw error;
        }
        this.recordLatency('snapshot', started);
        return new VmSnapshot(state, memory);
      } finally {
        if (!wasPaused) await this.#machine.resume();
      }
    });
  }

  /**
   * Starts the vCPUs; resolves once they run. Rejects with an AbortError if the signal is aborted.
   * @throws {@link VmAbortError} when the signal is already aborted.
   * @throws {@link ClosedError} when the VM was started before or disposed.
   * @throws {@link DeviceError} when a device's back end cannot start.
   */
  async start(options: { paused?: boolean } = {}): Promise<void> {
    if (this.#signal?.aborted) {
      await this.stop();
      throw new VmAbortError('the VM was aborted before it started', { cause: this.#signal.reason });
    }
    if (this.#disposal !== undefined) throw new ClosedError('cannot start a disposed VM');
    if (this.#started) throw new ClosedError('the VM was already started');
    this.#started = true;
    await this.#machine.start(options);
    if (this.#machine.phase === 'running') this.emit('start');
  }

  /**
   * Stops every vCPU (whatever the guest is doing) and resolves with how the VM ended.
   * @throws Nothing.
   */
  async stop(): Promise<VmExit> {
    await this.#machine.stop();
    return this.exited;
  }

  /**
   * Stops the VM and releases its KVM fds, memory and threads. Idempotent.
   * @throws Nothing.
   */
  dispose(): Promise<void> {
    this.#disposal ??= (async () => {
      this.#signal?.removeEventListener('abort', this.#onAbort);
      await this.stop();
      await this.#machine.dispose();
      // The console ended itself when the VM exited; it is left to deliver what it still buffers.
    })();
    return this.#disposal;
  }

  #serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#lifecycle.then(work, work);
    this.#lifecycle = next.catch(() => undefined);
    return next;
  }

  /**
   * The same as dispose(), for `await using`.
   * @throws Nothing.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
