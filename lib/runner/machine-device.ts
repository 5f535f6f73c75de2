// A device as the Machine sees it: the half that runs on the vCPU threads (a module every vCPU worker
// loads), the private channel between that half and the device's main-thread half, and the lifecycle
// the Machine drives (attach once the VM exists, quiesce once the vCPUs have stopped, close once guest
// memory is gone). The device layer (lib/devices) builds richer devices on this contract.
import type { MessagePort } from 'node:worker_threads';
import type { IoEventFdOptions } from '../kvm/vm';
import type { GuestMemory } from '../memory/guest-memory';
import type { DeviceModuleSpec } from './messages';

/** What a device may do to its VM: wire eventfds to interrupts and guest writes, drive irqchip lines. */
export interface VmWiring {
  /** A write to `eventFd` raises guest interrupt `gsi`. */
  irqfd(eventFd: number, gsi: number): void;
  /** A guest write to a port/MMIO address signals `eventFd` inside KVM (no exit to the VMM). */
  ioeventfd(eventFd: number, options: IoEventFdOptions): void;
  /** Sets an in-kernel irqchip line (level-triggered devices). */
  irqLine(irq: number, level: boolean): void;
}

/** The narrow context a device's main-thread half gets when the VM exists. */
export interface MachineAttachContext {
  /** Guest memory. */
  readonly memory: GuestMemory;
  /** The VM's wiring: interrupt lines, irqfds and ioeventfds. */
  readonly vm: VmWiring;
  /** The number of vCPUs. */
  readonly vcpuCount: number;
}

/**
 * The lowest-level device of a Machine: a module every vCPU worker loads, a channel to the main thread, and hooks
 * the machine calls in order.
 */
export interface MachineDevice {
  /** Stable within its machine (e.g. 'serial0', a drive id): names its channel and its saved state. */
  readonly id: string;
  /** The vCPU-thread half, loaded in every vCPU worker (read after attach). */
  readonly worker?: DeviceModuleSpec | undefined;
  /** Receives each vCPU worker's end of this device's private channel (devices with a worker half). */
  connect?(vcpu: number, port: MessagePort): void;
  /** The VM and guest memory exist: wire eventfds, start back ends. Called once, before any vCPU runs. */
  attach?(context: MachineAttachContext): void;
  /** The machine is starting (before any vCPU runs): start back ends that need awaiting (I/O threads). */
  start?(): Promise<void>;
  /**
   * The vCPUs have stopped: take no new work, finish (or cancel) host I/O in flight, stop watching
   * host fds. Nothing may touch guest memory once it resolves. Called once however the VM ended.
   */
  quiesce?(): Promise<void>;
  /** The machine paused (its vCPUs are parked): stop serving the guest until resume(). */
  pause?(): Promise<void>;
  /** Called after the vCPUs are allowed to run again (resume()). */
  resume?(): Promise<void>;
  /** Guest memory has been released: close fds, sockets and servers. Never throws. */
  close?(): void;
}
