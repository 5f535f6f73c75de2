// What a device module gets in each vCPU worker.
import type { IoBus } from '../bus/io-bus';
import type { GuestMemory } from '../memory/guest-memory';
import type { DeviceExit } from './messages';

export interface DeviceContext {
  /** Port I/O bus of this vCPU thread. */
  readonly pio: IoBus;
  /** MMIO bus of this vCPU thread. */
  readonly mmio: IoBus;
  /** Guest RAM, viewed from this thread. */
  readonly memory: GuestMemory;
  readonly vcpuIndex: number;
  readonly vcpuCount: number;
  /** Sends a message to the main thread; the VM emits it as a 'device-message' event. */
  post(payload: unknown): void;
  /** Sets an interrupt line of the in-kernel irqchip (machines created with irqchip: true). */
  irqLine(irq: number, level: boolean): void;
  /** Ends the VM once the current exit is handled (reset, power-off, or a guest status code). */
  requestExit(exit: DeviceExit): void;
}

export type DeviceSetup = (context: DeviceContext, args: unknown) => void | Promise<void>;
