// GuestMemory: guest RAM as regions of host memory, with guest-physical -> host translation and
// bounds-checked typed access. Every address a guest hands us goes through here, so a bad one becomes
// a GuestMemoryError, never an out-of-bounds host access.
import { native, NativeGuestMapping } from '../native/binding';
import { ClosedError, ConfigError, GuestMemoryError, nativeCall } from '../kvm/errors';
import { PAGE_SIZE, RamRegion } from './layout';

/** What another thread needs to view the same memory (structured-cloneable). */
export interface RegionDescriptor {
  /** The KVM memory slot. */
  slot: number;
  /** The guest-physical start. */
  guestAddress: number;
  /** The length in bytes. */
  size: number;
  /** Where the region is mapped in this process. */
  hostAddress: bigint;
  /** Whether the guest may only read it. */
  readonly: boolean;
  /**
   * One byte per page, set when the host wrote the page (device back ends filling guest buffers, the
   * loader): KVM's dirty log sees only the guest's own writes. Shared by every thread's view.
   */
  written: SharedArrayBuffer;
}

/** A region with its views in this thread. */
export interface GuestRegion extends RegionDescriptor {
  /** The region's bytes (no copy). */
  readonly bytes: Uint8Array;
  /** A DataView over the same bytes. */
  readonly view: DataView;
  /** `written` as bytes. */
  readonly writtenPages: Uint8Array;
}

/**
 * A region whose JS view is made on first use: creating an external ArrayBuffer over guest RAM costs
 * (V8 counts its size toward its heap limits, which can start a GC), and a restored VM, a vCPU
 * thread or an I/O thread that never touches a region from JS should not pay for it.
 */
class Region implements GuestRegion {
  readonly slot: number;
  readonly guestAddress: number;
  readonly size: number;
  readonly hostAddress: bigint;
  readonly readonly: boolean;
  readonly written: SharedArrayBuffer;
  readonly writtenPages: Uint8Array;
  readonly #makeView: () => ArrayBuffer;
  #bytes: Uint8Array | undefined;
  #view: DataView | undefined;

  constructor(descriptor: RegionDescriptor, makeView: () => ArrayBuffer) {
    this.slot = descriptor.slot;
    this.guestAddress = descriptor.guestAddress;
    this.size = descriptor.size;
    this.hostAddress = descriptor.hostAddress;
    this.readonly = descriptor.readonly;
    this.written = descriptor.written;
    this.writtenPages = new Uint8Array(descriptor.written);
    this.#makeView = makeView;
  }

  get bytes(): Uint8Array {
    if (this.#bytes === undefined) this.#materialize();
    return this.#bytes as Uint8Array;
  }

  get view(): DataView {
    if (this.#view === undefined) this.#materialize();
    return this.#view as DataView;
  }

  #materialize(): void {
    const buffer = this.#makeView();
    this.#bytes = new Uint8Array(buffer);
    this.#view = new DataView(buffer);
  }
}

/** How GuestMemory.allocate() maps the regions. */
export interface AllocateOptions {
  /** Use huge pages where the host has them. */
  hugepages?: boolean;
}

type Address = number | bigint;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function toNumber(address: Address, length: number): number {
  if (typeof address === 'number') {
    // The hot path (every ring and descriptor access): no BigInt conversion.
    if (Number.isSafeInteger(address) && address >= 0) return address;
    if (!Number.isSafeInteger(address)) throw new GuestMemoryError(0n, length, `guest-physical address ${address} is not an integer`);
    throw new GuestMemoryError(BigInt(address), length);
  }
  if (address < 0n || address > MAX_SAFE) throw new GuestMemoryError(address, length);
  return Number(address);
}

const PAGE_SHIFT = Math.log2(PAGE_SIZE);

function markPages(region: GuestRegion, offset: number, length: number): void {
  const pages = region.writtenPages;
  const last = length === 0 ? offset : offset + length - 1;
  for (let page = offset >>> PAGE_SHIFT, end = last >>> PAGE_SHIFT; page <= end; page++) pages[page] = 1;
}

/** Guest RAM: natively mapped regions seen as ArrayBuffers, with every access bounds-checked against them. */
export class GuestMemory {
  /** The regions, in guest-physical order. */
  readonly regions: readonly GuestRegion[];
  readonly #mappings: NativeGuestMapping[];
  #disposed = false;

  private constructor(regions: GuestRegion[], mappings: NativeGuestMapping[]) {
    this.regions = regions;
    this.#mappings = mappings;
  }

  /**
   * Allocates host memory for each region (anonymous, MAP_NORESERVE). This object owns it.
   * @throws {@link KvmIoctlError} when the mapping fails.
   * @throws {@link ConfigError} when the layout is invalid.
   */
  static allocate(layout: readonly RamRegion[], options: AllocateOptions = {}): GuestMemory {
    return GuestMemory.#map(layout, (region) => nativeCall(() => native().mapGuestMemory(region.size, { hugepages: options.hugepages ?? false })));
  }

  /**
   * Maps each region from a file copy-on-write (MAP_PRIVATE): a snapshot's memory file or memfd,
   * region n at `fileOffsets[n]`. Pages come in as the guest touches them; writes stay this VM's.
   * @throws {@link ConfigError} when the layout and the file offsets do not match.
   * @throws {@link KvmIoctlError} when the mapping fails.
   */
  static mapFile(layout: readonly RamRegion[], fd: number, fileOffsets: readonly number[]): GuestMemory {
    if (fileOffsets.length !== layout.length) throw new ConfigError(`a memory file offset per region: ${layout.length}, not ${fileOffsets.length}`);
    return GuestMemory.#map(layout, (region, slot) => nativeCall(() => native().mapFile(fd, region.size, { private: true, offset: fileOffsets[slot] as number })));
  }

  static #map(layout: readonly RamRegion[], map: (region: RamRegion, slot: number) => NativeGuestMapping): GuestMemory {
    const mappings: NativeGuestMapping[] = [];
    const regions: GuestRegion[] = [];
    try {
      let previousEnd = -1;
      layout.forEach((region, slot) => {
        if (region.guestAddress % PAGE_SIZE !== 0 || region.size % PAGE_SIZE !== 0 || region.size <= 0) {
          throw new ConfigError(`memory region 0x${region.guestAddress.toString(16)}+0x${region.size.toString(16)} is not page aligned`);
        }
        if (region.guestAddress < previousEnd) throw new ConfigError('memory regions must be sorted and must not overlap');
        previousEnd = region.guestAddress + region.size;
        const mapping = map(region, slot);
        mappings.push(mapping);
        const descriptor = { slot, guestAddress: region.guestAddress, size: region.size, hostAddress: mapping.address, readonly: false, written: new SharedArrayBuffer(region.size / PAGE_SIZE) };
        regions.push(new Region(descriptor, () => nativeCall(() => mapping.createView(0, region.size))));
      });
    } catch (error) {
      for (const mapping of mappings) mapping.unmap();
      throw error;
    }
    return new GuestMemory(regions, mappings);
  }

  /**
   * Views memory that another thread allocated (does not own it: the owner frees it).
   * @throws {@link KvmIoctlError} when a region cannot be viewed.
   */
  static attach(descriptors: readonly RegionDescriptor[]): GuestMemory {
    const regions = descriptors.map((d) => new Region(d, () => nativeCall(() => native().viewGuestMemory(d.hostAddress, d.size))));
    return new GuestMemory(regions, []);
  }

  /** The total RAM in bytes. */
  get size(): number {
    return this.regions.reduce((sum, r) => sum + r.size, 0);
  }

  /** Whether dispose() has unmapped the memory. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * What another thread needs to view the same memory (GuestMemory.attach()).
   * @throws Nothing.
   */
  descriptors(): RegionDescriptor[] {
    return this.regions.map(({ slot, guestAddress, size, hostAddress, readonly, written }) => ({ slot, guestAddress, size, hostAddress, readonly, written }));
  }

  /**
   * True when [address, address + length) lies inside one region.
   * @throws Nothing.
   */
  contains(address: Address, length = 1): boolean {
    try {
      this.#locate(address, length);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A view (no copy) of guest memory; throws GuestMemoryError unless it lies inside one region.
   * @throws {@link GuestMemoryError} when the range is not inside one region.
   */
  slice(address: Address, length: number): Uint8Array {
    const { region, offset } = this.#locate(address, length);
    return region.bytes.subarray(offset, offset + length);
  }

  /**
   * The host address backing a guest-physical address (for handing to the kernel, e.g. pread).
   * @throws {@link GuestMemoryError} when the range is not inside one region.
   */
  hostAddress(address: Address, length = 1): bigint {
    const { region, offset } = this.#locate(address, length);
    return region.hostAddress + BigInt(offset);
  }

  /**
   * Reads a byte.
   * @throws {@link GuestMemoryError} when the address is not in RAM.
   */
  readU8(address: Address): number {
    const { region, offset } = this.#locate(address, 1);
    return region.view.getUint8(offset);
  }
  /**
   * Reads a little-endian 16-bit value.
   * @throws {@link GuestMemoryError} when the range is not in RAM.
   */
  readU16(address: Address): number {
    const { region, offset } = this.#locate(address, 2);
    return region.view.getUint16(offset, true);
  }
  /**
   * Reads a little-endian 32-bit value.
   * @throws {@link GuestMemoryError} when the range is not in RAM.
   */
  readU32(address: Address): number {
    const { region, offset } = this.#locate(address, 4);
    return region.view.getUint32(offset, true);
  }
  /**
   * Reads a little-endian 64-bit value.
   * @throws {@link GuestMemoryError} when the range is not in RAM.
   */
  readU64(address: Address): bigint {
    const { region, offset } = this.#locate(address, 8);
    return region.view.getBigUint64(offset, true);
  }
  /**
   * Writes a byte.
   * @throws {@link GuestMemoryError} when the address is not in RAM.
   */
  writeU8(address: Address, value: number): void {
    const { region, offset } = this.#locate(address, 1);
    region.view.setUint8(offset, value);
    markPages(region, offset, 1);
  }
  /**
   * Writes a little-endian 16-bit value.
   * @throws {@link GuestMemoryError} when the range is not in RAM.
   */
  writeU16(address: Address, value: number): void {
    const { region, offset } = this.#locate(address, 2);
    region.view.setUint16(offset, value, true);
    markPages(region, offset, 2);
  }
  /**
   * Writes a little-endian 32-bit value.
   * @throws {@link GuestMemoryError} when the range is not in RAM.
   */
  writeU32(address: Address, value: number): void {
    const { region, offset } = this.#locate(address, 4);
    region.view.setUint32(offset, value >>> 0, true);
    markPages(region, offset, 4);
  }
  /**
   * Writes a little-endian 64-bit value.
   * @throws {@link GuestMemoryError} when the range is not in RAM.
   */
  writeU64(address: Address, value: bigint | number): void {
    const { region, offset } = this.#locate(address, 8);
    region.view.setBigUint64(offset, BigInt.asUintN(64, BigInt(value)), true);
    markPages(region, offset, 8);
  }

  /**
   * A view the host is about to write (a device-writable buffer): its pages are recorded as written,
   * so a snapshot copies them. Throws GuestMemoryError unless the range lies inside one region.
   * @throws {@link GuestMemoryError} when the range is not inside one region.
   */
  writableSlice(address: Address, length: number): Uint8Array {
    const { region, offset } = this.#locate(address, length);
    markPages(region, offset, length);
    return region.bytes.subarray(offset, offset + length);
  }

  /**
   * Writes `length` bytes of the region at `regionIndex`, from `offset`, to `fd` at `fileOffset`,
   * straight from the mapping (owner only; blocks the thread).
   * @throws {@link ClosedError} when the memory has been released.
   * @throws {@link ConfigError} when the range is outside the region.
   * @throws {@link KvmIoctlError} when the write fails.
   */
  writeRangeToFile(regionIndex: number, offset: number, length: number, fd: number, fileOffset: number): void {
    if (this.#disposed) throw new ClosedError('guest memory has been released');
    const mapping = this.#mappings[regionIndex];
    if (mapping === undefined) throw new ConfigError(`region ${regionIndex} is not this memory's own (attached views cannot write files)`);
    nativeCall(() => native().pwriteFromMapping(fd, mapping, offset, length, fileOffset));
  }

  /**
   * Copies bytes out of guest memory.
   * @throws {@link GuestMemoryError} when the range is not inside one region.
   */
  readBytes(address: Address, length: number): Uint8Array {
    return this.slice(address, length).slice();
  }

  /**
   * Copies bytes into guest memory.
   * @throws {@link GuestMemoryError} when the range is not inside one region.
   */
  writeBytes(address: Address, data: Uint8Array): void {
    this.writableSlice(address, data.length).set(data);
  }

  /**
   * Reads a NUL-terminated string of at most `maxLength` bytes (UTF-8).
   * @throws {@link GuestMemoryError} when the string runs outside RAM before its NUL or `maxLength`.
   */
  readCString(address: Address, maxLength: number): string {
    const { region, offset } = this.#locate(address, 1);
    const end = Math.min(region.size, offset + maxLength);
    const window = region.bytes.subarray(offset, end);
    const nul = window.indexOf(0);
    if (nul < 0) throw new GuestMemoryError(BigInt(address), maxLength, `no NUL terminator within ${maxLength} bytes at 0x${address.toString(16)}`);
    return Buffer.from(window.subarray(0, nul)).toString('utf8');
  }

  /**
   * Writes a string (UTF-8) followed by a NUL byte; returns the bytes written.
   * @throws {@link GuestMemoryError} when the string and its NUL do not fit inside one region.
   */
  writeCString(address: Address, text: string): number {
    const encoded = Buffer.from(`${text}\0`, 'utf8');
    this.writeBytes(address, encoded);
    return encoded.length;
  }

  /**
   * Releases the host memory (owner only). Views into it become empty; later access throws.
   * @throws Nothing.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const mapping of this.#mappings) mapping.unmap();
    this.#mappings.length = 0;
  }

  /**
   * The same as dispose(), for `using`.
   * @throws Nothing.
   */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /**
   * Records [address, address + length) as written by the host (see RegionDescriptor.written).
   * @throws {@link GuestMemoryError} when the range is not inside one region.
   */
  markWritten(address: Address, length: number): void {
    const { region, offset } = this.#locate(address, length);
    markPages(region, offset, length);
  }

  #locate(address: Address, length: number): { region: GuestRegion; offset: number } {
    if (this.#disposed) throw new ClosedError('guest memory has been released');
    const start = toNumber(address, length);
    if (!Number.isSafeInteger(length) || length < 0) throw new GuestMemoryError(BigInt(start), length, `invalid length ${length}`);
    for (const region of this.regions) {
      const offset = start - region.guestAddress;
      if (offset >= 0 && offset < region.size) {
        if (length > region.size - offset) break;
        return { region, offset };
      }
    }
    throw new GuestMemoryError(BigInt(start), length);
  }
}
