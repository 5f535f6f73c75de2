// What a device module gets in each vCPU worker.
import type { MessagePort } from 'node:worker_threads';
import type { IoBus } from '../bus/io-bus';
import type { GuestMemory } from '../memory/guest-memory';
import type { DeviceExit } from './messages';

/** What a device's vCPU-thread half gets: the buses to register on, its channel, memory, and the vCPU. */
export interface DeviceContext {
  /** Port I/O bus of this vCPU thread. */
  readonly pio: IoBus;
  /** MMIO bus of this vCPU thread. */
  readonly mmio: IoBus;
  /** Guest RAM, viewed from this thread. */
  readonly memory: GuestMemory;
  /** The index of the vCPU whose thread this is. */
  readonly vcpuIndex: number;
  /** The number of vCPUs. */
  readonly vcpuCount: number;
  /** The device's id in its machine. */
  readonly deviceId: string;
  /**
   * This device's private channel to its main-thread half (present when the device asked for one:
   * MachineDevice.connect). No other device can read or write it.
   */
  readonly channel: MessagePort | undefined;
  /** Sets an interrupt line of the in-kernel irqchip (machines created with irqchip: true). */
  irqLine(irq: number, level: boolean): void;
  /** Ends the VM once the current exit is handled (reset, power-off, or a guest status code). */
  requestExit(exit: DeviceExit): void;
}

/** A device module's setup export, run on each vCPU thread before the guest runs. */
export type DeviceSetup = (context: DeviceContext, args: unknown) => void | Promise<void>;
