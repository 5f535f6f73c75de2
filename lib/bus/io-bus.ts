// IoBus: address ranges (port I/O or MMIO) owned by devices. Overlapping claims are rejected; an
// access is routed to the owning device with the offset inside its range.
import { BusError } from '../kvm/errors';

export interface BusDevice {
  /** Fill `data` (its length is the access size) with the value read at `offset`. */
  read(offset: number, data: Uint8Array): void;
  /** Handle a write of `data` at `offset`. */
  write(offset: number, data: Uint8Array): void;
}

export interface BusRange {
  readonly base: number;
  readonly size: number;
  readonly device: BusDevice;
  readonly name: string;
}

/** Addresses are JS numbers: exact up to 2^53, which covers x86 port and physical address space. */
export class IoBus {
  readonly kind: 'pio' | 'mmio';
  readonly #ranges: BusRange[] = [];
  #last: BusRange | undefined;

  constructor(kind: 'pio' | 'mmio') {
    this.kind = kind;
  }

  get ranges(): readonly BusRange[] {
    return this.#ranges;
  }

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
    this.#ranges.push({ base: start, size, device, name });
    this.#ranges.sort((a, b) => a.base - b.base);
  }

  unregister(base: number | bigint): boolean {
    const start = Number(base);
    const index = this.#ranges.findIndex((r) => r.base === start);
    if (index < 0) return false;
    if (this.#last === this.#ranges[index]) this.#last = undefined;
    this.#ranges.splice(index, 1);
    return true;
  }

  /** The range holding [address, address + length), or undefined. */
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

  /** Routes a read; returns false (and fills `data` with 0xff, as open bus) when nobody owns the address. */
  read(address: number, data: Uint8Array): boolean {
    const range = this.find(address, data.length);
    if (range === undefined) {
      data.fill(0xff);
      return false;
    }
    range.device.read(address - range.base, data);
    return true;
  }

  /** Routes a write; returns false when nobody owns the address. */
  write(address: number, data: Uint8Array): boolean {
    const range = this.find(address, data.length);
    if (range === undefined) return false;
    range.device.write(address - range.base, data);
    return true;
  }
}
