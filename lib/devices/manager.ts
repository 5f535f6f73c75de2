// The device manager: every device of a machine registers here. It gives each one its id, its MMIO
// window and its interrupt line (fixed ones first, then from the machine's pools), refuses clashes
// before any VM exists, and builds what the guest is told from what is registered: the command line's
// device entries and the DSDT's device nodes. Its device list is the Machine's, in registration order
// (the Machine attaches, quiesces and closes them in that order).
import { VIRTIO_IRQS, VIRTIO_MMIO_BASE } from '../arch/x86_64/layout';
import { ConfigError } from '../kvm/errors';
import type { AddressRange, Device, DevicePlacement, DeviceState } from './device';

export interface DeviceManagerOptions {
  /** First guest-physical address of the MMIO windows the manager hands out. */
  mmioBase?: number;
  /** Interrupt lines for devices that take any, in the order they are handed out. */
  irqPool?: readonly number[];
}

const overlaps = (a: AddressRange, b: AddressRange): boolean => a.base < b.base + b.size && b.base < a.base + a.size;
const hex = (value: number): string => `0x${value.toString(16)}`;

/**
 * Registers a machine's devices, gives each an id, a window and a line, refuses clashes, and builds the command
 * line's device entries and the DSDT from them.
 */
export class DeviceManager {
  readonly #devices: Device[] = [];
  readonly #mmioBase: number;
  readonly #irqPool: readonly number[];
  #placed = false;

  /**
   * Makes an empty manager.
   * @throws Nothing.
   */
  constructor(options: DeviceManagerOptions = {}) {
    this.#mmioBase = options.mmioBase ?? VIRTIO_MMIO_BASE;
    this.#irqPool = options.irqPool ?? VIRTIO_IRQS;
  }

  /**
   * Registers a device (before place()). Returns it, for chaining.
   * @throws {@link ConfigError} when the device is already registered, its id is taken, or it clashes with
   *   another.
   */
  add<T extends Device>(device: T): T {
    if (this.#placed) throw new ConfigError('devices cannot be added once the manager has placed them');
    if (this.#devices.includes(device)) throw new ConfigError(`device ${device.requestedId ?? device.kind} is registered twice`);
    this.#devices.push(device);
    return device;
  }

  /** The registered devices, in registration order. */
  get devices(): readonly Device[] {
    return this.#devices;
  }

  /**
   * The device with this id (after place()).
   * @throws Nothing.
   */
  byId(id: string): Device | undefined {
    return this.#devices.find((device) => device.id === id);
  }

  /**
   * All devices of a kind, in registration order.
   * @throws Nothing.
   */
  ofKind(kind: string): Device[] {
    return this.#devices.filter((device) => device.kind === kind);
  }

  /**
   * Gives every device its id, window and line. Throws ConfigError for two devices with one id, fixed
   * ranges or lines that clash, or a machine that runs out of windows or lines.
   * @throws {@link ConfigError} when the pool of windows or lines runs out, or a device's fixed needs clash with
   *   another's.
   */
  place(): void {
    if (this.#placed) return;
    const placements = this.#devices.map((): Partial<DevicePlacement> => ({}));
    this.#assignIds(placements);
    this.#checkPorts();
    this.#assignWindows(placements);
    this.#assignIrqs(placements);
    this.#devices.forEach((device, i) => device.place(placements[i] as DevicePlacement));
    this.#placed = true;
  }

  /**
   * The command-line fragments of every device, space-separated, in registration order.
   * @throws Nothing.
   */
  kernelCmdline(): string {
    this.#requirePlaced();
    return this.#devices
      .map((device) => device.kernelCmdline())
      .filter((part) => part.length > 0)
      .join(' ');
  }

  /**
   * The DSDT nodes of every device that has one, in registration order.
   * @throws Nothing.
   */
  acpiNodes(): Uint8Array[] {
    this.#requirePlaced();
    return this.#devices.map((device) => device.acpiNode()).filter((node): node is Uint8Array => node !== undefined);
  }

  /**
   * Each device's saved state by id (devices without state are left out).
   * @throws Whatever a device's saveState() throws (a {@link VmmError}).
   */
  async saveStates(): Promise<Record<string, DeviceState>> {
    this.#requirePlaced();
    const states: Record<string, DeviceState> = {};
    for (const device of this.#devices) if (device.saveState !== undefined) states[device.id] = await device.saveState();
    return states;
  }

  /**
   * Puts saved states back; every device with state must have one, and every state a device.
   * @throws {@link ConfigError} when the states do not match the registered devices; whatever a device's
   *   restoreState() throws.
   */
  restoreStates(states: Readonly<Record<string, DeviceState>>): void {
    this.#requirePlaced();
    const withState = this.#devices.filter((device) => device.saveState !== undefined);
    for (const id of Object.keys(states)) {
      if (!withState.some((device) => device.id === id)) throw new ConfigError(`saved state for device '${id}', which this machine does not have`);
    }
    for (const device of withState) {
      if (!(device.id in states)) throw new ConfigError(`no saved state for device '${device.id}'`);
      device.restoreState?.(states[device.id]);
    }
  }

  #requirePlaced(): void {
    if (!this.#placed) throw new ConfigError('the devices have not been placed yet (DeviceManager.place())');
  }

  #assignIds(placements: Partial<DevicePlacement>[]): void {
    const ordinals = new Map<string, number>();
    const taken = new Set(this.#devices.map((d) => d.requestedId).filter((id): id is string => id !== undefined));
    const seen = new Set<string>();
    this.#devices.forEach((device, i) => {
      const ordinal = ordinals.get(device.idPrefix) ?? 0;
      ordinals.set(device.idPrefix, ordinal + 1);
      let id = device.requestedId;
      if (id === undefined) {
        let n = ordinal;
        while (taken.has(`${device.idPrefix}${n}`)) n++;
        id = `${device.idPrefix}${n}`;
        taken.add(id);
      }
      if (id.length === 0) throw new ConfigError(`a ${device.kind} device has an empty id`);
      if (seen.has(id)) throw new ConfigError(`two devices have the id '${id}'`);
      seen.add(id);
      Object.assign(placements[i] as object, { id, ordinal });
    });
  }

  #checkPorts(): void {
    const claimed: { range: AddressRange; device: Device }[] = [];
    for (const device of this.#devices) {
      for (const range of device.needs.ports ?? []) {
        const clash = claimed.find((c) => overlaps(c.range, range));
        if (clash !== undefined) {
          throw new ConfigError(`${device.kind}: ports ${hex(range.base)}+${range.size} overlap ${clash.device.kind}'s ${hex(clash.range.base)}+${clash.range.size}`);
        }
        claimed.push({ range, device });
      }
    }
  }

  #assignWindows(placements: Partial<DevicePlacement>[]): void {
    const fixed: AddressRange[] = [];
    for (const device of this.#devices) {
      const want = device.needs.mmioWindow;
      if (want?.base === undefined) continue;
      const range = { base: want.base, size: want.size };
      if (fixed.some((r) => overlaps(r, range))) throw new ConfigError(`${device.kind}: MMIO window ${hex(range.base)}+${hex(range.size)} overlaps another device's`);
      fixed.push(range);
    }
    let next = this.#mmioBase;
    let windowOrdinal = 0;
    this.#devices.forEach((device, i) => {
      const want = device.needs.mmioWindow;
      if (want === undefined) return;
      let range: AddressRange;
      if (want.base !== undefined) {
        range = { base: want.base, size: want.size };
      } else {
        next = Math.ceil(next / want.size) * want.size;
        while (fixed.some((r) => overlaps(r, { base: next, size: want.size }))) next += want.size;
        range = { base: next, size: want.size };
        next += want.size;
      }
      Object.assign(placements[i] as object, { mmio: range, windowOrdinal: windowOrdinal++ });
    });
  }

  #assignIrqs(placements: Partial<DevicePlacement>[]): void {
    const used = new Map<number, Device>();
    for (const device of this.#devices) {
      const line = device.needs.irq?.line;
      if (line === undefined) continue;
      const other = used.get(line);
      if (other !== undefined) throw new ConfigError(`${device.kind} and ${other.kind} both want interrupt line ${line}`);
      used.set(line, device);
    }
    const pool = this.#irqPool.filter((line) => !used.has(line));
    const needing = this.#devices.filter((device) => device.needs.irq !== undefined && device.needs.irq.line === undefined);
    if (needing.length > pool.length) throw new ConfigError(`${needing.length} devices need an interrupt line, but only ${pool.length} are free (${this.#irqPool.join(', ')})`);
    this.#devices.forEach((device, i) => {
      const want = device.needs.irq;
      if (want === undefined) return;
      const irq = want.line ?? (pool.shift() as number);
      Object.assign(placements[i] as object, { irq });
    });
  }
}
