import { strict as assert } from 'node:assert';
import { VirtqueueError } from '../../lib/devices/virtio/transport/errors';
import { Avail, AVAIL_F_NO_INTERRUPT, DescFlag } from '../../lib/devices/virtio/transport/split-ring-layout';
import { SplitVirtqueue } from '../../lib/devices/virtio/transport/split-virtqueue';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { TestDriver } from '../helpers/virtqueue-driver';

const MiB = 1024 * 1024;
const RAM = 2 * MiB;
const RINGS = 0x10000;
const DATA = 0x100000;

function rejects(code: string) {
  return (error: unknown): boolean => error instanceof VirtqueueError && error.code === code;
}

describe('split virtqueue', () => {
  let memory: GuestMemory;
  beforeEach(() => {
    memory = GuestMemory.allocate(ramLayout(RAM));
  });
  afterEach(() => memory.dispose());

  it('pops a readable+writable chain as views of guest memory and returns it through the used ring', () => {
    const driver = new TestDriver(memory, RINGS, 8);
    memory.writeBytes(DATA, Buffer.from('request'));
    driver.makeAvailable(driver.writeChain(2, [{ address: DATA, length: 7, writable: false }, { address: DATA + 0x100, length: 16, writable: true }]));
    const queue = new SplitVirtqueue(memory, driver.config);
    const chain = queue.pop();
    assert.ok(chain);
    assert.equal(chain.head, 2);
    assert.equal(Buffer.from(chain.readable[0] as Uint8Array).toString(), 'request');
    assert.equal(chain.writableBytes, 16);
    (chain.writable[0] as Uint8Array).set(Buffer.from('reply'));
    assert.equal(Buffer.from(memory.readBytes(DATA + 0x100, 5)).toString(), 'reply', 'writes land in guest memory (no copy)');
    assert.equal(queue.pop(), undefined);
    queue.pushUsed(chain.head, 5);
    assert.equal(driver.usedIndex(), 1);
    assert.deepEqual(driver.usedEntry(0), { id: 2, len: 5 });
    assert.equal(queue.shouldSignal(), true);
    assert.equal(queue.shouldSignal(), false, 'nothing new since');
  });

  it('follows an indirect table when negotiated and refuses it otherwise', () => {
    const table = DATA + 0x1000;
    for (const indirect of [true, false]) {
      const driver = new TestDriver(memory, RINGS, 4, { indirect });
      driver.writeDescriptor(0, { address: DATA, length: 4, flags: 0, next: 0 }, table);
      driver.writeDescriptor(1, { address: DATA + 8, length: 8, flags: DescFlag.WRITE, next: 0 }, table);
      driver.writeDescriptor(0, { address: DATA, length: 4, flags: DescFlag.NEXT, next: 1 }, table);
      driver.writeDescriptor(0, { address: table, length: 32, flags: DescFlag.INDIRECT, next: 0 });
      driver.makeAvailable(0);
      const queue = new SplitVirtqueue(memory, driver.config);
      if (indirect) {
        const chain = queue.pop();
        assert.equal(chain?.readableBytes, 4);
        assert.equal(chain?.writableBytes, 8);
      } else {
        assert.throws(() => queue.pop(), rejects('INDIRECT_NOT_NEGOTIATED'));
      }
    }
  });

  it('rejects a ring outside guest RAM or misaligned, and a bad queue size', () => {
    const driver = new TestDriver(memory, RAM - 64, 8);
    assert.throws(() => new SplitVirtqueue(memory, driver.config), rejects('RING_OUT_OF_RANGE'));
    assert.throws(() => new SplitVirtqueue(memory, { ...new TestDriver(memory, RINGS, 8).config, descTable: RINGS + 8 }), rejects('RING_MISALIGNED'));
    assert.throws(() => new SplitVirtqueue(memory, { ...new TestDriver(memory, RINGS, 8).config, size: 6 }), rejects('BAD_QUEUE_SIZE'));
  });

  const hostile: [string, (driver: TestDriver) => void, string][] = [
    ['a loop', (d) => { d.writeDescriptor(0, { address: DATA, length: 1, flags: DescFlag.NEXT, next: 1 }); d.writeDescriptor(1, { address: DATA, length: 1, flags: DescFlag.NEXT, next: 0 }); d.makeAvailable(0); }, 'CHAIN_TOO_LONG'],
    ['a buffer beyond RAM', (d) => { d.writeDescriptor(0, { address: RAM - 8, length: 16, flags: 0, next: 0 }); d.makeAvailable(0); }, 'BUFFER_OUT_OF_RANGE'],
    ['an address above 2^53', (d) => { d.writeDescriptor(0, { address: 0xffff_ffff_ffff_f000n, length: 16, flags: 0, next: 0 }); d.makeAvailable(0); }, 'BUFFER_OUT_OF_RANGE'],
    ['a next index beyond the table', (d) => { d.writeDescriptor(0, { address: DATA, length: 1, flags: DescFlag.NEXT, next: 9 }); d.makeAvailable(0); }, 'BAD_NEXT_INDEX'],
    ['a head beyond the table', (d) => d.makeAvailable(12), 'BAD_HEAD_INDEX'],
    ['readable after writable', (d) => { d.writeChain(0, [{ address: DATA, length: 1, writable: true }, { address: DATA, length: 1, writable: false }]); d.makeAvailable(0); }, 'WRITABLE_BEFORE_READABLE'],
    ['more available than the queue holds', (d) => d.setAvailIndex(9), 'AVAIL_INDEX_JUMP'],
  ];
  for (const [what, arrange, code] of hostile) {
    it(`fails the queue with ${code} for ${what}, and keeps refusing`, () => {
      const driver = new TestDriver(memory, RINGS, 8, { indirect: true });
      arrange(driver);
      const queue = new SplitVirtqueue(memory, driver.config);
      assert.throws(() => queue.pop(), rejects(code));
      assert.equal(queue.failure?.code, code);
      assert.throws(() => queue.pop(), rejects(code));
      assert.throws(() => queue.pushUsed(0, 0), rejects(code));
      assert.equal(queue.shouldSignal(), false);
    });
  }

  it('honours NO_INTERRUPT, and used_event with EVENT_IDX', () => {
    const plain = new TestDriver(memory, RINGS, 8);
    memory.writeU16(plain.config.availRing + Avail.FLAGS, AVAIL_F_NO_INTERRUPT);
    const quiet = new SplitVirtqueue(memory, plain.config);
    quiet.pushUsed(0, 0);
    assert.equal(quiet.shouldSignal(), false);

    const withEvents = new TestDriver(memory, RINGS + 0x4000, 8, { eventIdx: true });
    const queue = new SplitVirtqueue(memory, withEvents.config);
    const usedEvent = withEvents.config.availRing + Avail.RING + Avail.ENTRY * 8;
    memory.writeU16(usedEvent, 2); // interrupt me once the used index passes 2
    queue.pushUsed(0, 0);
    assert.equal(queue.shouldSignal(), false, 'used idx 1: not yet');
    queue.pushUsed(0, 0);
    queue.pushUsed(0, 0);
    assert.equal(queue.shouldSignal(), true, 'used idx 3 passed used_event 2');
  });
});
