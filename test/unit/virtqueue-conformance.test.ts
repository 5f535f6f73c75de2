// The split virtqueue against the rules of virtio 1.2, 2.7 (each test names its section). The
// memory and used-ring oracles watch every test: no access outside guest RAM, no used.idx published
// before its entry, every head back once with the length pushed.
import { strict as assert } from 'node:assert';
import { VirtqueueError } from '../../lib/devices/virtio/transport/errors';
import { Avail, DescFlag, DESCRIPTOR_SIZE, Used } from '../../lib/devices/virtio/transport/split-ring-layout';
import { type QueueIndices, SplitVirtqueue } from '../../lib/devices/virtio/transport/split-virtqueue';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { StrictMemory } from '../helpers/strict-memory';
import { UsedRingOracle } from '../helpers/used-ring-oracle';
import { TestDriver } from '../helpers/virtqueue-driver';

const RAM = 8 * 1024 * 1024;
const RINGS = 0x10000;
const DATA = 0x100000;
const TABLES = 0x80000;
const U16 = 0x10000;

/** vring_need_event as virtio 1.2, 2.7.10 states it (the reference the queue is held to). */
function needEvent(event: number, now: number, old: number): boolean {
  return (now - event - 1 + 2 * U16) % U16 < (now - old + U16) % U16;
}

describe('split virtqueue conformance (virtio 1.2, 2.7)', () => {
  let memory: GuestMemory;
  let strict: StrictMemory;
  beforeEach(() => {
    memory = GuestMemory.allocate(ramLayout(RAM));
    strict = new StrictMemory(memory);
  });
  afterEach(() => memory.dispose());

  /** A test that also fails on anything the memory oracle recorded. */
  const rule = (title: string, body: () => void): Mocha.Test =>
    it(title, () => {
      body();
      strict.assertClean(title);
    });

  function rig(size: number, options: { indirect?: boolean; eventIdx?: boolean } = {}, indices?: QueueIndices) {
    const driver = new TestDriver(memory, RINGS, size, options);
    driver.clearRings();
    strict.watchUsedRing(driver.config.usedRing, size);
    const queue = new SplitVirtqueue(strict.memory, driver.config, indices);
    return { driver, queue, oracle: new UsedRingOracle(driver) };
  }

  const availEvent = (driver: TestDriver): number => memory.readU16(driver.config.usedRing + Used.RING + Used.ENTRY * driver.config.size);
  const usedEventAt = (driver: TestDriver): number => driver.config.availRing + Avail.RING + Avail.ENTRY * driver.config.size;

  rule('2.7.10: with EVENT_IDX the device writes avail_event, the next avail index it will take, on every pop and unpop', () => {
    const { driver, queue } = rig(8, { eventIdx: true });
    memory.writeU16(driver.config.usedRing + Used.RING + Used.ENTRY * 8, 0xbeef);
    for (let i = 0; i < 3; i++) driver.makeAvailable(driver.writeChain(i, [{ address: DATA, length: 8, writable: true }]));
    queue.pop();
    assert.equal(availEvent(driver), 1);
    queue.pop();
    assert.equal(availEvent(driver), 2);
    queue.unpop();
    assert.equal(availEvent(driver), 1, 'the chain given back is the next to take');
  });

  rule('2.7.10: signals exactly when vring_need_event(used_event, new, old) holds, for every (old, new) pair in a small range and across 65535 -> 0', () => {
    let cases = 0;
    for (const base of [0, U16 - 8]) {
      for (let oldOffset = 0; oldOffset < 8; oldOffset++) {
        for (let count = 0; count <= 8; count++) {
          for (let eventOffset = -2; eventOffset < 12; eventOffset++) {
            const old = (base + oldOffset) % U16;
            const now = (old + count) % U16;
            const event = (base + eventOffset + U16) % U16;
            const indices = { nextAvail: 0, nextUsed: now, usedAtLastSignal: old };
            const driver = new TestDriver(memory, RINGS, 8, { eventIdx: true });
            memory.writeU16(usedEventAt(driver), event);
            const queue = new SplitVirtqueue(strict.memory, driver.config, indices);
            assert.equal(queue.shouldSignal(), needEvent(event, now, old), `used_event ${event}, old ${old}, new ${now}`);
            assert.equal(indices.usedAtLastSignal, now, 'what was used is counted as considered');
            cases++;
          }
        }
      }
    }
    assert.equal(cases, 2 * 8 * 9 * 14);
  });

  rule('2.7.10: without EVENT_IDX, signals unless avail.flags has NO_INTERRUPT, and never for nothing new', () => {
    for (const flags of [0, 1]) {
      const { driver, queue } = rig(4);
      memory.writeU16(driver.config.availRing + Avail.FLAGS, flags);
      assert.equal(queue.shouldSignal(), false, 'nothing used yet');
      queue.pushUsed(0, 0);
      assert.equal(queue.shouldSignal(), flags === 0);
    }
  });

  rule('2.7.6, 2.7.8: avail and used indices run across 65535 -> 0 (16-bit, the ring slot is idx mod size)', () => {
    const start = U16 - 5;
    const indices = { nextAvail: start, nextUsed: start, usedAtLastSignal: start };
    const { driver, queue } = rig(4, { eventIdx: true }, indices);
    driver.setAvailIndex(start);
    memory.writeU16(driver.config.usedRing + Used.IDX, start);
    const fresh = new UsedRingOracle(driver);
    strict.watchUsedRing(driver.config.usedRing, 4);
    for (let round = 0; round < 12; round++) {
      const head = round % 4;
      driver.makeAvailable(driver.writeChain(head, [{ address: DATA + head * 64, length: 64, writable: true }]));
      fresh.offered(head);
      assert.equal(queue.pending, 1);
      const chain = queue.pop();
      assert.equal(chain?.head, head, `round ${round}: the head from avail slot ${(start + round) % 4}`);
      const expected = (start + round + 1) % U16;
      assert.equal(indices.nextAvail, expected, 'nextAvail wraps at 16 bits');
      assert.equal(availEvent(driver), expected);
      fresh.expectLength(head, round);
      queue.pushUsed(head, round);
      assert.equal(indices.nextUsed, expected, 'nextUsed wraps at 16 bits');
      assert.equal(driver.usedIndex(), expected);
      assert.deepEqual(driver.usedEntry((start + round) % U16), { id: head, len: round });
      assert.equal(queue.pop(), undefined);
      fresh.check();
    }
    fresh.assertNoneLost(12);
    fresh.assertClean('wrap');
  });

  rule('2.7.5.3.1: an indirect descriptor inside an indirect table is refused (NESTED_INDIRECT)', () => {
    const { driver, queue } = rig(4, { indirect: true });
    driver.writeDescriptor(0, { address: DATA, length: 8, flags: 0, next: 0 }, TABLES + 0x100);
    driver.writeDescriptor(0, { address: TABLES + 0x100, length: DESCRIPTOR_SIZE, flags: DescFlag.INDIRECT, next: 0 }, TABLES);
    driver.writeDescriptor(0, { address: TABLES, length: DESCRIPTOR_SIZE, flags: DescFlag.INDIRECT, next: 0 });
    driver.makeAvailable(0);
    assert.throws(() => queue.pop(), (e: unknown) => e instanceof VirtqueueError && e.code === 'NESTED_INDIRECT');
    assert.equal(queue.failure?.code, 'NESTED_INDIRECT');
  });

  rule('2.7.5.3.1: an indirect descriptor with NEXT, or a table that is not whole descriptors, is refused', () => {
    for (const [length, flags] of [[DESCRIPTOR_SIZE, DescFlag.INDIRECT | DescFlag.NEXT], [DESCRIPTOR_SIZE + 1, DescFlag.INDIRECT], [0, DescFlag.INDIRECT]] as const) {
      const { driver, queue } = rig(4, { indirect: true });
      driver.writeDescriptor(0, { address: TABLES, length, flags, next: 1 });
      driver.makeAvailable(0);
      assert.throws(() => queue.pop(), (e: unknown) => e instanceof VirtqueueError && e.code === 'BAD_INDIRECT_TABLE', `length ${length} flags ${flags}`);
    }
  });

  rule('2.7.4: a chain whose lengths add up past 4 GiB is refused (LENGTH_OVERFLOW), buffers inside RAM or not', () => {
    const { driver, queue } = rig(4, { indirect: true });
    const entries = 1 + Math.ceil(0x1_0000_0000 / RAM);
    for (let i = 0; i < entries; i++) driver.writeDescriptor(i, { address: 0, length: RAM, flags: i === entries - 1 ? 0 : DescFlag.NEXT, next: i + 1 }, TABLES);
    driver.writeDescriptor(0, { address: TABLES, length: entries * DESCRIPTOR_SIZE, flags: DescFlag.INDIRECT, next: 0 });
    driver.makeAvailable(0);
    assert.throws(() => queue.pop(), (e: unknown) => e instanceof VirtqueueError && e.code === 'LENGTH_OVERFLOW');
  });

  rule('2.7.4: a buffer is checked over its whole length: one reaching past the end of RAM by a byte is refused, nothing outside RAM touched', () => {
    for (const writable of [false, true]) {
      const { driver, queue } = rig(4);
      driver.makeAvailable(driver.writeChain(0, [{ address: RAM - 15, length: 16, writable }]));
      assert.throws(() => queue.pop(), (e: unknown) => e instanceof VirtqueueError && e.code === 'BUFFER_OUT_OF_RANGE');
    }
    const { driver, queue } = rig(4);
    driver.makeAvailable(driver.writeChain(0, [{ address: RAM - 16, length: 16, writable: true }]));
    assert.equal(queue.pop()?.writableBytes, 16, 'the last 16 bytes of RAM are fine');
  });

  rule('2.7.8: used entries are written before used.idx publishes them, and each comes back once with its length', () => {
    const { driver, queue, oracle } = rig(8);
    for (let i = 0; i < 8; i++) {
      driver.makeAvailable(driver.writeChain(i, [{ address: DATA + i * 16, length: 16, writable: true }]));
      oracle.offered(i);
    }
    for (let i = 0; i < 8; i++) {
      const chain = queue.pop();
      assert.ok(chain);
      oracle.expectLength(chain.head, i * 2);
      queue.pushUsed(chain.head, i * 2);
      oracle.check();
    }
    oracle.assertNoneLost(8);
    oracle.assertClean('push order');
  });

  rule('2.7.5: indices at the edge of the table: head and next equal to the queue size are refused, size - 1 taken', () => {
    for (const [head, next, code] of [[4, 0, 'BAD_HEAD_INDEX'], [0, 4, 'BAD_NEXT_INDEX']] as const) {
      const { driver, queue } = rig(4);
      driver.writeDescriptor(0, { address: DATA, length: 8, flags: next === 0 ? 0 : DescFlag.NEXT, next });
      driver.makeAvailable(head);
      assert.throws(() => queue.pop(), (e: unknown) => e instanceof VirtqueueError && e.code === code, code);
    }
    const { driver, queue } = rig(4);
    driver.writeDescriptor(3, { address: DATA, length: 8, flags: DescFlag.NEXT, next: 3 - 1 });
    driver.writeDescriptor(2, { address: DATA, length: 8, flags: 0, next: 0 });
    driver.makeAvailable(3);
    assert.equal(queue.pop()?.readableBytes, 16);
  });

  rule('2.7.5.3: indirect descriptors are refused unless negotiated (the default), and a table of the largest size is taken', () => {
    const { driver, queue } = rig(4);
    driver.writeDescriptor(0, { address: TABLES, length: DESCRIPTOR_SIZE, flags: DescFlag.INDIRECT, next: 0 });
    driver.makeAvailable(0);
    assert.throws(() => queue.pop(), (e: unknown) => e instanceof VirtqueueError && e.code === 'INDIRECT_NOT_NEGOTIATED');
    const big = rig(4, { indirect: true });
    const entries = 32768;
    big.driver.writeDescriptor(entries - 1, { address: DATA, length: 8, flags: 0, next: 0 }, TABLES);
    big.driver.writeDescriptor(0, { address: DATA, length: 8, flags: DescFlag.NEXT, next: entries - 1 }, TABLES);
    big.driver.writeDescriptor(0, { address: TABLES, length: entries * DESCRIPTOR_SIZE, flags: DescFlag.INDIRECT, next: 0 });
    big.driver.makeAvailable(0);
    assert.equal(big.queue.pop()?.readableBytes, 16, 'an indirect table of 32768 descriptors');
  });

  rule('2.7.4: a chain of exactly 4 GiB - 1 bytes, readable then writable, is taken; a byte more is refused', () => {
    for (const extra of [0, 1]) {
      const { driver, queue } = rig(4, { indirect: true });
      const count = 0x1_0000_0000 / RAM;
      for (let i = 0; i < count; i++) {
        const length = i === count - 1 ? RAM - 1 + extra : RAM;
        driver.writeDescriptor(i, { address: 0, length, flags: (i < count / 2 ? 0 : DescFlag.WRITE) | (i === count - 1 ? 0 : DescFlag.NEXT), next: i + 1 }, TABLES);
      }
      driver.writeDescriptor(0, { address: TABLES, length: count * DESCRIPTOR_SIZE, flags: DescFlag.INDIRECT, next: 0 });
      driver.makeAvailable(0);
      if (extra === 0) assert.equal(queue.pop()?.writableBytes, 0x8000_0000 - 1);
      else assert.throws(() => queue.pop(), (e: unknown) => e instanceof VirtqueueError && e.code === 'LENGTH_OVERFLOW');
    }
  });

  rule('2.7.4: a zero-length buffer is taken wherever it points (nothing is read or written through it)', () => {
    const { driver, queue } = rig(4);
    driver.writeDescriptor(0, { address: 2n ** 60n, length: 0, flags: DescFlag.WRITE, next: 0 });
    driver.makeAvailable(0);
    assert.equal(queue.pop()?.writableBytes, 0);
  });

  rule('a failed queue refuses pushUsed and unpop and reports nothing pending; a host error is passed on without failing the queue', () => {
    const { driver, queue } = rig(4);
    driver.makeAvailable(9);
    assert.throws(() => queue.pop(), (e: unknown) => e instanceof VirtqueueError && e.code === 'BAD_HEAD_INDEX');
    driver.makeAvailable(0);
    assert.equal(queue.pending, 0);
    assert.throws(() => queue.pushUsed(0, 0), VirtqueueError);
    assert.throws(() => queue.unpop(), VirtqueueError);
    assert.equal(queue.shouldSignal(), false);
    const host = new TestDriver(memory, RINGS + 0x8000, 4);
    host.clearRings();
    const broken = { ...strict.memory, readU16: (): number => { throw new TypeError('a host bug'); } };
    const hostQueue = new SplitVirtqueue(broken, host.config);
    assert.throws(() => hostQueue.pop(), TypeError);
    assert.equal(hostQueue.failure, undefined, 'a host error does not fail the queue');
  });

  rule('2.7.13.3: more available buffers than the queue holds fail the queue (AVAIL_INDEX_JUMP)', () => {
    const { driver, queue } = rig(4);
    driver.setAvailIndex(5);
    assert.throws(() => queue.pop(), (e: unknown) => e instanceof VirtqueueError && e.code === 'AVAIL_INDEX_JUMP');
  });
});
