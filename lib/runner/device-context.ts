// What a device module gets in each vCPU worker.
import type { IoBus } from '../bus/io-bus';
import type { GuestMemory } from '../memory/guest-memory';

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
}

export type DeviceSetup = (context: DeviceContext, args: unknown) => void | Promise<void>;
