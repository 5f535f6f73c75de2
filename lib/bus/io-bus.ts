// IoBus: address ranges (port I/O or MMIO) owned by devices. Overlapping claims are rejected; an
// access is routed to the owning device with the offset inside its range.
import { BusError } from '../kvm/errors';

/** What a device on an IoBus implements: a read and a write of a few bytes at an offset into its range. */
export interface BusDevice {
  /** Fill `data` (its length is the access size) with the value read at `offset`. */
  read(offset: number, data: Uint8Array): void;
  /** Handle a write of `data` at `offset`. */
  write(offset: number, data: Uint8Array): void;
}

/** A range of addresses a device owns on a bus. */
export interface BusRange {
  /** The first address. */
  readonly base: number;
  /** The length in bytes (or ports). */
  readonly size: number;
  /** The device that owns it. */
  readonly device: BusDevice;
  /** A name for messages. */
  readonly name: string;
  /** Which counter its accesses go to (the owner's slot when it was registered). */
  readonly slot: number;
}

/** Addresses are JS numbers: exact up to 2^53, which covers x86 port and physical address space. */
export class IoBus {
  /** Whether this bus carries port I/O or MMIO. */
  readonly kind: 'pio' | 'mmio';
  /**
   * The counter slot of the device registering ranges now (its loader sets it before each device's setup): every
   * access routed to a range adds one to `counts[slot]`.
   */
  owner = 0;
  readonly #ranges: BusRange[] = [];
  readonly #counts: Float64Array | undefined;
  #last: BusRange | undefined;

  /**
   * Makes an empty bus; with `counts`, each routed access is counted in its owner's slot (slots beyond the array
   * share its last one).
   * @throws Nothing.
   */
  constructor(kind: 'pio' | 'mmio', counts?: Float64Array) {
    this.kind = kind;
    this.#counts = counts;
  }

  /** The registered ranges, in address order. */
  get ranges(): readonly BusRange[] {
    return this.#ranges;
  }

  /**
   * Gives `device` the addresses [base, base + size).
   * @throws {@link BusError} when the range is empty, out of bounds or overlaps one already registered.
   */
  register(base: number | bigint, size: number, device: BusDevice, name = 'device'): void {
    const start = Number(base);
    const limit = this.kind === 'pio' ? 0x10000 : Number.MAX_SAFE_INTEGER;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(size) || start < 0 || size <= 0 || start + size > limit) {
      throw new BusError(`${name}: invalid ${this.kind} range 0x${start.toString(16)}+0x${size.toString(16)}`);
    }
    const clash = this.#ranges.find((r) => start < r.base + r.size && r.base < start + size);
    if (clash !== undefined) {
      throw new BusError(
        `${name}: ${this.kind} range 0x${start.toString(16)}+0x${size.toString(16)} overlaps ${clash.name} at 0x${clash.base.toString(16)}+0x${clash.size.toString(16)}`,
      );
    }
    const slot = this.#counts === undefined ? 0 : Math.min(this.owner, this.#counts.length - 1);
    this.#ranges.push({ base: start, size, device, name, slot });
    this.#ranges.sort((a, b) => a.base - b.base);
  }

  /**
   * Removes the range that starts at `base`; returns whether there was one.
   * @throws Nothing.
   */
  unregister(base: number | bigint): boolean {
    const start = Number(base);
    const index = this.#ranges.findIndex((r) => r.base === start);
    if (index < 0) return false;
    if (this.#last === this.#ranges[index]) this.#last = undefined;
    this.#ranges.splice(index, 1);
    return true;
  }

  /**
   * The range holding [address, address + length), or undefined.
   * @throws Nothing.
   */
  find(address: number, length = 1): BusRange | undefined {
    if (!Number.isSafeInteger(address) || !Number.isSafeInteger(length)) return undefined;
    const last = this.#last;
    if (last !== undefined && address >= last.base && address + length <= last.base + last.size) return last;
    let lo = 0;
    let hi = this.#ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const range = this.#ranges[mid] as BusRange;
      if (address < range.base) hi = mid - 1;
      else if (address >= range.base + range.size) lo = mid + 1;
      else {
        if (address + length > range.base + range.size) return undefined;
        this.#last = range;
        return range;
      }
    }
    return undefined;
  }

  /**
   * Routes a read; returns false (and fills `data` with 0xff, as open bus) when nobody owns the address.
   * @throws Whatever the device's read() throws.
   */
  read(address: number, data: Uint8Array): boolean {
    const range = this.find(address, data.length);
    if (range === undefined) {
      data.fill(0xff);
      return false;
    }
    if (this.#counts !== undefined) this.#counts[range.slot]++;
    range.device.read(address - range.base, data);
    return true;
  }

  /**
   * Routes a write; returns false when nobody owns the address.
   * @throws Whatever the device's write() throws.
   */
  write(address: number, data: Uint8Array): boolean {
    const range = this.find(address, data.length);
    if (range === undefined) return false;
    if (this.#counts !== undefined) this.#counts[range.slot]++;
    range.device.write(address - range.base, data);
    return true;
  }
}
