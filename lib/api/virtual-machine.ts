// VirtualMachine: the public handle on one Linux-booting VM (see createVm). It wraps a Machine (the
// runner) and its serial console; each instance owns its own /dev/kvm fd, VM, memory and threads.
// (The name `Vm` belongs to the low-level KVM VM-fd wrapper in lib/kvm/vm.ts.)
import { EventEmitter } from 'node:events';
import type { LinuxMachine } from '../boot/linux-machine';
import type { Device } from '../devices/device';
import type { DeviceManager } from '../devices/manager';
import type { SerialConsole } from '../devices/legacy/serial/serial-console';
import { ClosedError } from '../kvm/errors';
import type { Machine } from '../runner/machine';
import './dispose-symbol';
import { VmAbortError } from './errors';
import { toVmExit, VmExit } from './vm-exit';

export interface VirtualMachineEvents {
  start: [];
  exit: [exit: VmExit];
}

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
  #started = false;
  #disposal: Promise<void> | undefined;

  /** @internal Use createVm(). */
  constructor(linux: LinuxMachine, signal?: AbortSignal) {
    super();
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

  /** The device with this id ('blk0', a disk's given id, 'serial0', ...). */
  device(id: string): Device | undefined {
    return this.#devices.byId(id);
  }

  /** The kernel command line the guest was given (with the devices' entries). */
  get cmdline(): string {
    return this.#cmdline;
  }

  /** Number of vCPUs. */
  get vcpus(): number {
    return this.#machine.vcpuCount;
  }

  /** Starts the vCPUs; resolves once they run. Rejects with an AbortError if the signal is aborted. */
  async start(): Promise<void> {
    if (this.#signal?.aborted) {
      await this.stop();
      throw new VmAbortError('the VM was aborted before it started', { cause: this.#signal.reason });
    }
    if (this.#disposal !== undefined) throw new ClosedError('cannot start a disposed VM');
    if (this.#started) throw new ClosedError('the VM was already started');
    this.#started = true;
    await this.#machine.start();
    if (this.#machine.phase === 'running') this.emit('start');
  }

  /** Stops every vCPU (whatever the guest is doing) and resolves with how the VM ended. */
  async stop(): Promise<VmExit> {
    await this.#machine.stop();
    return this.exited;
  }

  /** Stops the VM and releases its KVM fds, memory and threads. Idempotent. */
  dispose(): Promise<void> {
    this.#disposal ??= (async () => {
      this.#signal?.removeEventListener('abort', this.#onAbort);
      await this.stop();
      await this.#machine.dispose();
      // The console ended itself when the VM exited; it is left to deliver what it still buffers.
    })();
    return this.#disposal;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
