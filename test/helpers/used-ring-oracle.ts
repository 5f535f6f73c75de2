// Reads a used ring back the way a driver does and checks what the device put there (virtio 1.2,
// 2.7.8): each entry's id was made available and is not returned twice, its len is what the device
// wrote (exactly, when the test knows it; at most the chain's writable bytes otherwise), used.idx
// never moves by more than the ring holds, and used.flags carries no bit but NO_NOTIFY. Violations
// are collected, not thrown, so no code under test can catch them.
import { Desc, DescFlag, DESCRIPTOR_SIZE, Used, USED_F_NO_NOTIFY } from '../../lib/devices/virtio/transport/split-ring-layout';
import type { TestDriver } from './virtqueue-driver';

export class UsedRingOracle {
  readonly violations: string[] = [];
  /** Entries read back so far. */
  returned = 0;
  readonly #driver: TestDriver;
  readonly #outstanding = new Map<number, number>();
  readonly #expectedLen = new Map<number, number[]>();
  #seenIdx: number;

  constructor(driver: TestDriver) {
    this.#driver = driver;
    this.#seenIdx = driver.usedIndex();
  }

  /** The driver made `head` available (call it with every makeAvailable). */
  offered(head: number): void {
    this.#outstanding.set(head, (this.#outstanding.get(head) ?? 0) + 1);
  }

  /** The device is known to return `head` with exactly `len` (in the order pushes happen). */
  expectLength(head: number, len: number): void {
    const queue = this.#expectedLen.get(head) ?? [];
    queue.push(len);
    this.#expectedLen.set(head, queue);
  }

  /** Reads every entry published since the last check. */
  check(): void {
    const { memory, config } = this.#driver;
    const flags = memory.readU16(config.usedRing + Used.FLAGS);
    if ((flags & ~USED_F_NO_NOTIFY) !== 0) this.violations.push(`used.flags 0x${flags.toString(16)} has bits other than NO_NOTIFY`);
    const idx = this.#driver.usedIndex();
    const fresh = (idx - this.#seenIdx) & 0xffff;
    if (fresh > config.size) {
      this.violations.push(`used.idx moved from ${this.#seenIdx} to ${idx}, more than the ${config.size} entries the ring holds`);
      this.#seenIdx = idx;
      return;
    }
    for (; this.#seenIdx !== idx; this.#seenIdx = (this.#seenIdx + 1) & 0xffff) this.#entry(this.#driver.usedEntry(this.#seenIdx));
  }

  /** The device took `taken` chains (its next avail index): all of them must be back by now. */
  assertNoneLost(taken: number): void {
    this.check();
    if (this.returned !== taken) this.violations.push(`the device took ${taken} chains and returned ${this.returned}`);
  }

  assertClean(context: string): void {
    if (this.violations.length === 0) return;
    throw new Error(`${context}: ${this.violations.length} used-ring oracle violations, e.g.\n  ${this.violations.slice(0, 5).join('\n  ')}`);
  }

  #entry({ id, len }: { id: number; len: number }): void {
    this.returned++;
    const count = this.#outstanding.get(id) ?? 0;
    if (count === 0) {
      this.violations.push(`head ${id} returned ${id >= this.#driver.config.size ? 'beyond the queue size' : 'while not outstanding (twice, or never offered)'}`);
      return;
    }
    if (count === 1) this.#outstanding.delete(id);
    else this.#outstanding.set(id, count - 1);
    const expected = this.#expectedLen.get(id)?.shift();
    if (expected !== undefined && len !== expected) this.violations.push(`head ${id} returned with len ${len}, the device wrote ${expected}`);
    const writable = this.#writableBytes(id);
    if (len > writable) this.violations.push(`head ${id} returned with len ${len}, more than its ${writable} writable bytes`);
  }

  /** The writable bytes of the chain at `head` as the driver laid it out (Infinity when it is malformed). */
  #writableBytes(head: number): number {
    const { memory, config } = this.#driver;
    let table = config.descTable;
    let tableSize = config.size;
    let index = head;
    let total = 0;
    for (let steps = 0; steps <= 2 * 0x8000; steps++) {
      if (index >= tableSize) return Infinity;
      const at = table + index * DESCRIPTOR_SIZE;
      const length = memory.readU32(at + Desc.LEN);
      const flags = memory.readU16(at + Desc.FLAGS);
      if ((flags & DescFlag.INDIRECT) !== 0) {
        const address = memory.readU64(at + Desc.ADDR);
        if (!memory.contains(address, length) || length % DESCRIPTOR_SIZE !== 0) return Infinity;
        table = Number(address);
        tableSize = length / DESCRIPTOR_SIZE;
        index = 0;
        continue;
      }
      if ((flags & DescFlag.WRITE) !== 0) total += length;
      if ((flags & DescFlag.NEXT) === 0) return total;
      index = memory.readU16(at + Desc.NEXT);
    }
    return Infinity;
  }
}
