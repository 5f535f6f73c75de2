// Oracles over the guest memory a queue or device is given. The proxy records every violation in a
// list the test owns (a thrown assertion could be caught and converted by the code under test, as
// split-virtqueue.ts turns errors into BUFFER_OUT_OF_RANGE), then lets the access go on to the real
// memory (which refuses it). Checked: every access lies inside guest RAM, and a used ring's index is
// only published after every entry it covers has been written (id and len).
import type { QueueMemory } from '../../lib/devices/virtio/transport/split-virtqueue';
import { Used } from '../../lib/devices/virtio/transport/split-ring-layout';
import type { GuestMemory } from '../../lib/memory/guest-memory';

interface WatchedUsedRing {
  usedRing: number;
  size: number;
  /** used.idx as last published. */
  published: number;
  /** Ring slots whose id and len words were written since they were last published (bit 0: id, bit 1: len). */
  written: Map<number, number>;
}

const ID_WRITTEN = 1;
const LEN_WRITTEN = 2;
const ENTRY_WRITTEN = ID_WRITTEN | LEN_WRITTEN;

export class StrictMemory {
  readonly violations: string[] = [];
  readonly memory: QueueMemory;
  readonly #rings: WatchedUsedRing[] = [];

  constructor(readonly guest: GuestMemory) {
    const check = (what: string, address: number | bigint, length: number): void => {
      if (!guest.contains(address, length)) this.violations.push(`${what} [0x${address.toString(16)}, +${length}) outside guest RAM`);
    };
    this.memory = {
      contains: (address, length) => guest.contains(address, length),
      slice: (address, length) => (check('slice', address, length), guest.slice(address, length)),
      writableSlice: (address, length) => (check('writableSlice', address, length), guest.writableSlice(address, length)),
      readU16: (address) => (check('readU16', address, 2), guest.readU16(address)),
      readU32: (address) => (check('readU32', address, 4), guest.readU32(address)),
      readU64: (address) => (check('readU64', address, 8), guest.readU64(address)),
      writeU16: (address, value) => {
        check('writeU16', address, 2);
        this.#publishing(Number(address), value);
        guest.writeU16(address, value);
      },
      writeU32: (address, value) => {
        check('writeU32', address, 4);
        this.#entryWrite(Number(address));
        guest.writeU32(address, value);
      },
    };
  }

  /** Starts checking the publication order of a used ring (call after the driver zeroed it; replaces one at the same address). */
  watchUsedRing(usedRing: number, size: number): void {
    const old = this.#rings.findIndex((ring) => ring.usedRing === usedRing);
    if (old >= 0) this.#rings.splice(old, 1);
    this.#rings.push({ usedRing, size, published: this.guest.readU16(usedRing + Used.IDX), written: new Map() });
  }

  /** Fails the test with every recorded violation (the first few spelled out). */
  assertClean(context: string): void {
    if (this.violations.length === 0) return;
    throw new Error(`${context}: ${this.violations.length} memory oracle violations, e.g.\n  ${this.violations.slice(0, 5).join('\n  ')}`);
  }

  #entryWrite(address: number): void {
    for (const ring of this.#rings) {
      const offset = address - (ring.usedRing + Used.RING);
      if (offset < 0 || offset >= Used.ENTRY * ring.size) continue;
      const slot = Math.floor(offset / Used.ENTRY);
      const part = offset % Used.ENTRY === 0 ? ID_WRITTEN : offset % Used.ENTRY === 4 ? LEN_WRITTEN : 0;
      if (part === 0) this.violations.push(`used ring write at 0x${address.toString(16)} is not an entry's id or len`);
      ring.written.set(slot, (ring.written.get(slot) ?? 0) | part);
    }
  }

  #publishing(address: number, value: number): void {
    for (const ring of this.#rings) {
      if (address !== ring.usedRing + Used.IDX) continue;
      for (let idx = ring.published; idx !== (value & 0xffff); idx = (idx + 1) & 0xffff) {
        const slot = idx % ring.size;
        if (ring.written.get(slot) !== ENTRY_WRITTEN) this.violations.push(`used.idx set to ${value} before entry ${idx} (slot ${slot}) was written`);
        ring.written.delete(slot);
      }
      ring.published = value & 0xffff;
    }
  }
}
