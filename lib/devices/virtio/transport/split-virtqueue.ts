// The device side of a split virtqueue (virtio 1.2, 2.7): takes descriptor chains the driver made
// available and returns them through the used ring. Everything read from the rings is the guest's
// word and is checked: ring placement, indices, chain length (which also catches loops), buffer
// ranges, readable-before-writable order, indirect tables. The first violation fails the queue for
// good (`failure`), as the device is then expected to ask for a reset.
import { GuestMemoryError } from '../../../kvm/errors';
import type { GuestMemory } from '../../../memory/guest-memory';
import { VirtqueueError } from './errors';
import {
  Avail,
  AVAIL_F_NO_INTERRUPT,
  AVAIL_RING_ALIGN,
  availRingBytes,
  Desc,
  DescFlag,
  DESCRIPTOR_SIZE,
  DESCRIPTOR_TABLE_ALIGN,
  descriptorTableBytes,
  isValidQueueSize,
  MAX_QUEUE_SIZE,
  Used,
  USED_RING_ALIGN,
  usedRingBytes,
} from './split-ring-layout';

/** The guest memory operations a queue needs (GuestMemory provides them). */
export type QueueMemory = Pick<GuestMemory, 'contains' | 'slice' | 'writableSlice' | 'readU16' | 'readU32' | 'readU64' | 'writeU16' | 'writeU32'>;

export interface SplitQueueConfig {
  size: number;
  descTable: number;
  availRing: number;
  usedRing: number;
  /** VIRTIO_F_INDIRECT_DESC was negotiated. */
  indirect?: boolean;
  /** VIRTIO_F_EVENT_IDX was negotiated. */
  eventIdx?: boolean;
}

/**
 * One request the driver made available: a chain of descriptors, split into what the device reads and what it
 * writes.
 */
export interface DescriptorChain {
  /** The index of the chain's first descriptor (what pushUsed() takes back). */
  head: number;
  /** Device-readable buffers, in order (views of guest memory, no copies). */
  readable: Uint8Array[];
  /** Device-writable buffers, in order. */
  writable: Uint8Array[];
  /** The total length of the readable buffers. */
  readableBytes: number;
  /** The total length of the writable buffers. */
  writableBytes: number;
}

/**
 * Where a queue keeps its position in the rings. By default a plain object; a transport keeps them in
 * its shared state (QueueIndexSlots) so that a snapshot saves them with the rest of the device.
 */
export interface QueueIndices {
  /** The next avail-ring entry to take. */
  nextAvail: number;
  /** The next used-ring entry to fill. */
  nextUsed: number;
  /** nextUsed when the driver was last considered for an interrupt. */
  usedAtLastSignal: number;
}

const U16_MASK = 0xffff;
const MAX_CHAIN_BYTES = 0xffffffff;
const EMPTY = new Uint8Array(0);

export class SplitVirtqueue {
  readonly size: number;
  readonly #memory: QueueMemory;
  readonly #config: Required<SplitQueueConfig>;
  readonly #indices: QueueIndices;
  #failure: VirtqueueError | undefined;

  /** Checks the ring placement; throws VirtqueueError if the driver configured it badly. */
  constructor(memory: QueueMemory, config: SplitQueueConfig, indices: QueueIndices = { nextAvail: 0, nextUsed: 0, usedAtLastSignal: 0 }) {
    this.#indices = indices;
    if (!isValidQueueSize(config.size)) throw new VirtqueueError('BAD_QUEUE_SIZE', `queue size ${config.size} is not a power of two from 1 to ${MAX_QUEUE_SIZE}`);
    this.size = config.size;
    this.#memory = memory;
    this.#config = { indirect: false, eventIdx: false, ...config };
    checkArea(memory, 'descriptor table', config.descTable, descriptorTableBytes(config.size), DESCRIPTOR_TABLE_ALIGN);
    checkArea(memory, 'available ring', config.availRing, availRingBytes(config.size), AVAIL_RING_ALIGN);
    checkArea(memory, 'used ring', config.usedRing, usedRingBytes(config.size), USED_RING_ALIGN);
  }

  /** Set once the guest broke the queue's rules; the queue then refuses all work. */
  get failure(): VirtqueueError | undefined {
    return this.#failure;
  }

  /** The next available chain, or undefined when the driver has made none available. */
  pop(): DescriptorChain | undefined {
    if (this.#failure !== undefined) throw this.#failure;
    try {
      const avail = this.#config.availRing;
      const indices = this.#indices;
      const pending = (this.#memory.readU16(avail + Avail.IDX) - indices.nextAvail) & U16_MASK;
      if (pending === 0) return undefined;
      if (pending > this.size) throw new VirtqueueError('AVAIL_INDEX_JUMP', `the driver made ${pending} buffers available on a queue of ${this.size}`);
      const head = this.#memory.readU16(avail + Avail.RING + Avail.ENTRY * (indices.nextAvail % this.size));
      indices.nextAvail = (indices.nextAvail + 1) & U16_MASK;
      this.#writeAvailEvent();
      return this.#walk(head);
    } catch (error) {
      throw this.#fail(error);
    }
  }

  /**
   * Puts the chain pop() returned last back (it will be popped again): a device that took a chain it
   * cannot fill yet (no frame waiting) gives it back instead of holding it across a snapshot.
   */
  unpop(): void {
    if (this.#failure !== undefined) throw this.#failure;
    this.#indices.nextAvail = (this.#indices.nextAvail - 1) & U16_MASK;
    this.#writeAvailEvent();
  }

  /** Chains the driver has made available and the device has not taken yet. */
  get pending(): number {
    if (this.#failure !== undefined) return 0;
    try {
      return (this.#memory.readU16(this.#config.availRing + Avail.IDX) - this.#indices.nextAvail) & U16_MASK;
    } catch (error) {
      throw this.#fail(error);
    }
  }

  /** With EVENT_IDX, avail_event tells the driver which avail index to notify at: the next one we take. */
  #writeAvailEvent(): void {
    if (this.#config.eventIdx) this.#memory.writeU16(this.#config.usedRing + Used.RING + Used.ENTRY * this.size, this.#indices.nextAvail);
  }

  /** Returns a chain to the driver with the number of bytes the device wrote into it. */
  pushUsed(head: number, written: number): void {
    if (this.#failure !== undefined) throw this.#failure;
    const used = this.#config.usedRing;
    const indices = this.#indices;
    const entry = used + Used.RING + Used.ENTRY * (indices.nextUsed % this.size);
    this.#memory.writeU32(entry, head);
    this.#memory.writeU32(entry + 4, written);
    indices.nextUsed = (indices.nextUsed + 1) & U16_MASK;
    // The index goes last: the driver may read the entries as soon as it sees it.
    this.#memory.writeU16(used + Used.IDX, indices.nextUsed);
  }

  /** Whether the driver wants an interrupt for what was used since the last signal (then counts it as signalled). */
  shouldSignal(): boolean {
    if (this.#failure !== undefined) return false;
    const indices = this.#indices;
    const previous = indices.usedAtLastSignal;
    const current = indices.nextUsed;
    indices.usedAtLastSignal = current;
    if (previous === current) return false;
    const avail = this.#config.availRing;
    if (!this.#config.eventIdx) return (this.#memory.readU16(avail + Avail.FLAGS) & AVAIL_F_NO_INTERRUPT) === 0;
    const usedEvent = this.#memory.readU16(avail + Avail.RING + Avail.ENTRY * this.size);
    // virtio 1.2, 2.7.10: signal when used_event lies in [previous, current).
    return ((current - usedEvent - 1) & U16_MASK) < ((current - previous) & U16_MASK);
  }

  #walk(head: number): DescriptorChain {
    if (head >= this.size) throw new VirtqueueError('BAD_HEAD_INDEX', `head descriptor ${head} is beyond the queue size ${this.size}`);
    const chain: DescriptorChain = { head, readable: [], writable: [], readableBytes: 0, writableBytes: 0 };
    let table = this.#config.descTable;
    let tableSize = this.size;
    let index = head;
    let visited = 0;
    let inIndirect = false;
    for (;;) {
      if (++visited > tableSize) throw new VirtqueueError('CHAIN_TOO_LONG', `chain from head ${head} is longer than its table (${tableSize} descriptors): a loop or an overlong chain`);
      const at = table + index * DESCRIPTOR_SIZE;
      const address = this.#memory.readU64(at + Desc.ADDR);
      const length = this.#memory.readU32(at + Desc.LEN);
      const flags = this.#memory.readU16(at + Desc.FLAGS);
      const next = this.#memory.readU16(at + Desc.NEXT);
      if ((flags & DescFlag.INDIRECT) !== 0) {
        if (!this.#config.indirect) throw new VirtqueueError('INDIRECT_NOT_NEGOTIATED', 'indirect descriptor without VIRTIO_F_INDIRECT_DESC');
        if (inIndirect) throw new VirtqueueError('NESTED_INDIRECT', 'indirect descriptor inside an indirect table');
        if ((flags & DescFlag.NEXT) !== 0) throw new VirtqueueError('BAD_INDIRECT_TABLE', 'indirect descriptor with NEXT set');
        const entries = length / DESCRIPTOR_SIZE;
        if (length === 0 || !Number.isInteger(entries) || entries > MAX_QUEUE_SIZE) {
          throw new VirtqueueError('BAD_INDIRECT_TABLE', `indirect table of ${length} bytes (a non-zero multiple of ${DESCRIPTOR_SIZE}, at most ${MAX_QUEUE_SIZE} entries)`);
        }
        table = bufferAddress(this.#memory, address, length);
        tableSize = entries;
        index = 0;
        visited = 0;
        inIndirect = true;
        continue;
      }
      const writable = (flags & DescFlag.WRITE) !== 0;
      if (!writable && chain.writable.length > 0) throw new VirtqueueError('WRITABLE_BEFORE_READABLE', `chain from head ${head} has a readable buffer after a writable one`);
      // A device-writable buffer is recorded as written by the host (a snapshot must copy it).
      const start = length === 0 ? 0 : bufferAddress(this.#memory, address, length);
      const bytes = length === 0 ? EMPTY : writable ? this.#memory.writableSlice(start, length) : this.#memory.slice(start, length);
      if (chain.readableBytes + chain.writableBytes + length > MAX_CHAIN_BYTES) throw new VirtqueueError('LENGTH_OVERFLOW', `chain from head ${head} is longer than 4 GiB`);
      if (writable) {
        chain.writable.push(bytes);
        chain.writableBytes += length;
      } else {
        chain.readable.push(bytes);
        chain.readableBytes += length;
      }
      if ((flags & DescFlag.NEXT) === 0) return chain;
      if (next >= tableSize) throw new VirtqueueError('BAD_NEXT_INDEX', `descriptor ${index} points to ${next}, beyond its table of ${tableSize}`);
      index = next;
    }
  }

  /** A guest's error fails the queue; anything else is the host's bug and goes on as it is. */
  #fail(error: unknown): unknown {
    if (!(error instanceof VirtqueueError) && !(error instanceof GuestMemoryError)) return error;
    const failure = error instanceof VirtqueueError ? error : new VirtqueueError('BUFFER_OUT_OF_RANGE', error.message);
    this.#failure = failure;
    return failure;
  }
}

function checkArea(memory: QueueMemory, what: string, address: number, length: number, align: number): void {
  if (!Number.isSafeInteger(address) || address % align !== 0) throw new VirtqueueError('RING_MISALIGNED', `${what} at 0x${address.toString(16)} is not ${align}-byte aligned`);
  if (!memory.contains(address, length)) throw new VirtqueueError('RING_OUT_OF_RANGE', `${what} [0x${address.toString(16)}, +${length}) is not inside guest RAM`);
}

/** A buffer's guest address as a number, once [address, address + length) is known to be guest RAM. */
function bufferAddress(memory: QueueMemory, address: bigint, length: number): number {
  if (address > BigInt(Number.MAX_SAFE_INTEGER) || !memory.contains(Number(address), length)) {
    throw new VirtqueueError('BUFFER_OUT_OF_RANGE', `buffer [0x${address.toString(16)}, +${length}) is not inside guest RAM`);
  }
  return Number(address);
}
