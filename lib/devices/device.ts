// The Device interface: what every device of a machine, legacy or virtio, states to the device
// manager (lib/devices/manager.ts), which places it, announces it to the guest and drives its
// lifecycle. A device is a MachineDevice (its vCPU-thread half, its private channel, attach / quiesce
// / close) plus what the manager needs: the resources it wants, its command-line fragment, its ACPI
// node and its saved state.
import { ConfigError } from '../kvm/errors';
import type { MachineDevice } from '../runner/machine-device';

/** A range of guest-physical (MMIO) or port (PIO) addresses. */
export interface AddressRange {
  /** The first address. */
  base: number;
  /** The length in bytes. */
  size: number;
}

/** What a device wants from the machine. Fixed values are the device's (legacy ports and lines). */
export interface DeviceNeeds {
  /** An MMIO window of `size` bytes, at `base` if given (otherwise the manager picks one). */
  mmioWindow?: { size: number; base?: number | undefined };
  /** An interrupt line: `line` if given (legacy devices), otherwise one from the machine's pool. */
  irq?: { line?: number | undefined };
  /** Fixed port ranges it claims on every vCPU's port bus (checked for clashes before any VM exists). */
  ports?: readonly AddressRange[];
}

/** Where the manager put a device. */
export interface DevicePlacement {
  /** Its id: the one it asked for, or `<idPrefix><ordinal>`. */
  id: string;
  /** Its position among the machine's devices that share its idPrefix (0, 1, ...). */
  ordinal: number;
  /** Its position among the machine's devices with an MMIO window (ACPI names them by it). */
  windowOrdinal?: number;
  /** The MMIO window given to the device, if it asked for one. */
  mmio?: AddressRange;
  /** The interrupt line given to the device, if it asked for one. */
  irq?: number;
}

/** A device's saved state: a plain, structured-cloneable value (issue 10's snapshots write it). */
export type DeviceState = unknown;

/**
 * A device of a machine, legacy or virtio, built in or the user's: what it needs, its vCPU-thread half, its
 * command-line fragment and ACPI node, and its lifecycle hooks.
 */
export interface Device extends MachineDevice {
  /** What it is, e.g. 'serial', 'i8042', 'virtio-blk'. */
  readonly kind: string;
  /** The id the user gave it, if any (a drive or interface id). */
  readonly requestedId: string | undefined;
  /** Generated ids are this plus the device's ordinal: 'blk0', 'net1'. */
  readonly idPrefix: string;
  /** What the device needs from the machine: fixed ports and lines, or an MMIO window and a line from the pool. */
  readonly needs: DeviceNeeds;
  /** Called once by the manager before the machine is created; the device keeps its placement. */
  place(placement: DevicePlacement): void;
  /** The kernel command-line fragment that announces it ('' when the guest finds it otherwise). */
  kernelCmdline(): string;
  /** Its node in the ACPI DSDT (an AML Device object), or undefined when it has none. */
  acpiNode(): Uint8Array | undefined;
  /** Its state, for a snapshot (the machine is paused or stopped and the device quiesced). */
  saveState?(): DeviceState | Promise<DeviceState>;
  /** Puts back a state saveState() returned (before the machine starts). */
  restoreState?(state: DeviceState): void;
}

/** The bookkeeping every device does with its placement. */
export abstract class PlacedDevice {
  /** The id the device was created with, if any (otherwise the manager gives one). */
  readonly requestedId: string | undefined;
  #placement: DevicePlacement | undefined;

  /**
   * Makes the base of a device with an optional id of its own.
   * @throws Nothing.
   */
  constructor(requestedId: string | undefined) {
    this.requestedId = requestedId;
  }

  /** The device's id (`blk0`, `serial0`, or the one it was given). */
  get id(): string {
    return this.placement.id;
  }

  /** Whether the manager has placed the device yet. */
  get placed(): boolean {
    return this.#placement !== undefined;
  }

  /** Throws until the manager has placed the device. */
  get placement(): DevicePlacement {
    if (this.#placement === undefined) throw new ConfigError('the device has not been placed by a device manager yet');
    return this.#placement;
  }

  /**
   * Records where the manager placed the device (its id, window and line); called once by the DeviceManager.
   * @throws {@link ConfigError} when the device was already placed.
   */
  place(placement: DevicePlacement): void {
    if (this.#placement !== undefined) throw new ConfigError(`device ${this.#placement.id} is already placed`);
    this.#placement = placement;
  }
}
