// A test-side virtio driver for split virtqueues: lays out the rings in guest memory, writes
// descriptors (well-formed or not), makes chains available and reads the used ring back.
import type { GuestMemory } from '../../lib/memory/guest-memory';
import { Avail, Desc, DescFlag, DESCRIPTOR_SIZE, Used } from '../../lib/devices/virtio/transport/split-ring-layout';
import type { SplitQueueConfig } from '../../lib/devices/virtio/transport/split-virtqueue';
import { until } from './until';

export interface RawDescriptor {
  address: bigint | number;
  length: number;
  flags: number;
  next: number;
}

export class TestDriver {
  readonly memory: GuestMemory;
  readonly config: SplitQueueConfig;
  #availIdx = 0;

  /** Rings at `base` (desc table, then avail, then used, each aligned, unless placed explicitly). */
  constructor(memory: GuestMemory, base: number, size: number, options: { indirect?: boolean; eventIdx?: boolean; availRing?: number; usedRing?: number } = {}) {
    this.memory = memory;
    const descTable = base;
    const availRing = options.availRing ?? descTable + DESCRIPTOR_SIZE * size;
    const usedRing = options.usedRing ?? alignUp(availRing + Avail.RING + Avail.ENTRY * size + 2, 4);
    this.config = { size, descTable, ...options, availRing, usedRing };
  }

  /** Zeroes the avail and used rings (flags, indices, entries), as a driver does before QueueReady. */
  clearRings(): void {
    const { availRing, usedRing, size } = this.config;
    this.memory.writeBytes(availRing, new Uint8Array(Avail.RING + Avail.ENTRY * size + 2));
    this.memory.writeBytes(usedRing, new Uint8Array(Used.RING + Used.ENTRY * size + 2));
    this.#availIdx = 0;
  }

  writeDescriptor(index: number, d: RawDescriptor, table = this.config.descTable): void {
    const at = table + index * DESCRIPTOR_SIZE;
    this.memory.writeU64(at + Desc.ADDR, BigInt(d.address));
    this.memory.writeU32(at + Desc.LEN, d.length);
    this.memory.writeU16(at + Desc.FLAGS, d.flags);
    this.memory.writeU16(at + Desc.NEXT, d.next);
  }

  /** Writes a well-formed chain starting at descriptor `first`; returns its head. */
  writeChain(first: number, buffers: { address: number; length: number; writable: boolean }[]): number {
    buffers.forEach((b, i) => {
      const last = i === buffers.length - 1;
      this.writeDescriptor(first + i, { address: b.address, length: b.length, flags: (b.writable ? DescFlag.WRITE : 0) | (last ? 0 : DescFlag.NEXT), next: last ? 0 : first + i + 1 });
    });
    return first;
  }

  makeAvailable(head: number): void {
    const { availRing, size } = this.config;
    this.memory.writeU16(availRing + Avail.RING + Avail.ENTRY * (this.#availIdx % size), head);
    this.#availIdx = (this.#availIdx + 1) & 0xffff;
    this.memory.writeU16(availRing + Avail.IDX, this.#availIdx);
  }

  /** Sets avail.idx directly (to make a hostile number of buffers "available"). */
  setAvailIndex(index: number): void {
    this.#availIdx = index & 0xffff;
    this.memory.writeU16(this.config.availRing + Avail.IDX, this.#availIdx);
  }

  usedIndex(): number {
    return this.memory.readU16(this.config.usedRing + Used.IDX);
  }

  /**
   * For a device on another thread: polls until the used index moves past `seen`, failing with
   * `what` after `ms`.
   */
  async waitForUsed(seen: number, what = 'the device answers', ms = 10_000): Promise<void> {
    await until(() => this.usedIndex() !== seen, `${what}: a used buffer past index ${seen}`, ms);
  }

  usedEntry(slot: number): { id: number; len: number } {
    const at = this.config.usedRing + Used.RING + Used.ENTRY * (slot % this.config.size);
    return { id: this.memory.readU32(at), len: this.memory.readU32(at + 4) };
  }
}

function alignUp(value: number, align: number): number {
  return Math.ceil(value / align) * align;
}
