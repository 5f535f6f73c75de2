// Edges of the virtio-mmio transport's queue registers and of the split virtqueue that the
// conformance suites leave open: every queue address register reads back, QueueReady both ways,
// DRIVER_OK announced once, the negotiated ring features, and the diagnostics a VirtqueueError carries.
import { strict as assert } from 'node:assert';
import { VirtqueueError, type VirtqueueErrorCode } from '../../lib/devices/virtio/transport/errors';
import { DeviceStatus, MmioReg, VirtioFeature } from '../../lib/devices/virtio/transport/mmio-registers';
import { createVirtioMmioState, QueueSlot, TransportSlot } from '../../lib/devices/virtio/transport/mmio-state';
import { VirtioMmioTransport } from '../../lib/devices/virtio/transport/mmio-transport';
import { DescFlag, Used } from '../../lib/devices/virtio/transport/split-ring-layout';
import { type SplitQueueConfig, SplitVirtqueue } from '../../lib/devices/virtio/transport/split-virtqueue';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { MmioDriver } from '../helpers/mmio-driver';
import { TestDriver } from '../helpers/virtqueue-driver';
import { queueMemoryOps } from '../helpers/queue-memory';

const VERSION_1 = 1n << VirtioFeature.VERSION_1;
const INDIRECT = 1n << VirtioFeature.INDIRECT_DESC;
const EVENT_IDX = 1n << VirtioFeature.EVENT_IDX;

function rig() {
  const state = createVirtioMmioState({ deviceId: 4, features: INDIRECT | EVENT_IDX, queueSizes: [8, 16] });
  let driverOk = 0;
  const transport = new VirtioMmioTransport(state, { onDriverOk: () => driverOk++ });
  return { state, transport, driver: new MmioDriver(transport), driverOks: () => driverOk };
}

describe('virtio-mmio queue registers (virtio 1.2, 4.2.2 and 4.2.3.2)', () => {
  it('4.2.2: QueueDesc, QueueDriver and QueueDevice read back what the driver wrote, each half of each', () => {
    const { driver } = rig();
    driver.negotiate();
    driver.write(MmioReg.QUEUE_SEL, 1);
    const registers = [MmioReg.QUEUE_DESC_LOW, MmioReg.QUEUE_DESC_HIGH, MmioReg.QUEUE_DRIVER_LOW, MmioReg.QUEUE_DRIVER_HIGH, MmioReg.QUEUE_DEVICE_LOW, MmioReg.QUEUE_DEVICE_HIGH];
    registers.forEach((offset, i) => driver.write(offset, 0x1000 * (i + 1) + i));
    assert.deepEqual(registers.map((offset) => driver.read(offset)), registers.map((_offset, i) => 0x1000 * (i + 1) + i));
    driver.write(MmioReg.QUEUE_SEL, 0);
    assert.deepEqual(registers.map((offset) => driver.read(offset)), [0, 0, 0, 0, 0, 0], 'queue 0 is untouched');
    assert.equal(driver.read(MmioReg.QUEUE_NOTIFY), 0, 'write-only registers read 0');
    assert.equal(driver.read(MmioReg.INTERRUPT_ACK), 0);
  });

  it('4.2.3.2: QueueReady 0 takes a queue back before DRIVER_OK; only 1 makes it ready', () => {
    const { transport, driver } = rig();
    driver.negotiate();
    driver.setupQueue(0, { size: 8, descTable: 0x1000, availRing: 0x2000, usedRing: 0x3000 });
    assert.ok(transport.queueConfig(0));
    driver.write(MmioReg.QUEUE_READY, 0);
    assert.equal(driver.read(MmioReg.QUEUE_READY), 0);
    assert.equal(transport.queueConfig(0), undefined);
    driver.write(MmioReg.QUEUE_READY, 2);
    assert.equal(driver.read(MmioReg.QUEUE_READY), 0, 'a value other than 1 is not ready');
    driver.write(MmioReg.QUEUE_NUM, 4);
    driver.write(MmioReg.QUEUE_READY, 1);
    assert.equal(transport.queueConfig(0)?.size, 4, 'set up again while not ready');
  });

  it('a queue index past the device\'s queues has no configuration, whatever its slots hold', () => {
    const { state, transport, driver } = rig();
    driver.negotiate();
    const slots = new Int32Array(state.slots);
    const past = TransportSlot.HEADER + 2 * QueueSlot.STRIDE;
    slots[past + QueueSlot.READY] = 1;
    slots[past + QueueSlot.NUM] = 8;
    assert.equal(transport.queueConfig(2), undefined);
  });

  it('3.1.1: DRIVER_OK is announced once: writing Status again with it set (even with FAILED) is no new DRIVER_OK', () => {
    const { driver, driverOks } = rig();
    driver.negotiate();
    driver.driverOk();
    driver.driverOk();
    driver.write(MmioReg.STATUS, driver.read(MmioReg.STATUS) | DeviceStatus.FAILED);
    assert.equal(driverOks(), 1);
  });

  it('6: the negotiated INDIRECT_DESC and EVENT_IDX reach the queue configuration, each on its own', () => {
    const { transport, driver } = rig();
    const setup = { size: 8, descTable: 0x1000, availRing: 0x2000, usedRing: 0x3000 };
    for (const [accept, indirect, eventIdx] of [[VERSION_1 | INDIRECT, true, false], [VERSION_1 | EVENT_IDX, false, true], [VERSION_1, false, false]] as const) {
      driver.negotiate(accept);
      driver.setupQueue(0, setup);
      assert.deepEqual(transport.queueConfig(0), { ...setup, indirect, eventIdx });
    }
  });
});

describe('split virtqueue diagnostics and edges (virtio 1.2, 2.7)', () => {
  let memory: GuestMemory;
  beforeEach(() => {
    memory = GuestMemory.allocate(ramLayout(1024 * 1024));
  });
  afterEach(() => memory.dispose());

  const END = 1024 * 1024;
  const base: SplitQueueConfig = { size: 8, descTable: 0x1000, availRing: 0x2000, usedRing: 0x3000 };

  function refusal(make: () => unknown): { code: VirtqueueErrorCode; message: string } {
    try {
      make();
    } catch (error) {
      if (error instanceof VirtqueueError) return { code: error.code, message: error.message };
      throw error;
    }
    assert.fail('not refused');
  }

  it('2.7: a badly placed queue is refused with what, where and why', () => {
    assert.deepEqual(refusal(() => new SplitVirtqueue(memory, { ...base, size: 3 })), { code: 'BAD_QUEUE_SIZE', message: 'virtqueue: queue size 3 is not a power of two from 1 to 32768' });
    assert.deepEqual(refusal(() => new SplitVirtqueue(memory, { ...base, descTable: 0x1008 })), { code: 'RING_MISALIGNED', message: 'virtqueue: descriptor table at 0x1008 is not 16-byte aligned' });
    assert.deepEqual(refusal(() => new SplitVirtqueue(memory, { ...base, availRing: 0x2001 })), { code: 'RING_MISALIGNED', message: 'virtqueue: available ring at 0x2001 is not 2-byte aligned' });
    assert.deepEqual(refusal(() => new SplitVirtqueue(memory, { ...base, usedRing: END })), { code: 'RING_OUT_OF_RANGE', message: `virtqueue: used ring [0x${END.toString(16)}, +70) is not inside guest RAM` });
  });

  function queue(options: { indirect?: boolean; eventIdx?: boolean } = {}): { driver: TestDriver; queue: SplitVirtqueue } {
    const driver = new TestDriver(memory, 0x10000, 8, options);
    driver.clearRings();
    return { driver, queue: new SplitVirtqueue(memory, driver.config) };
  }

  it('2.7.5: a broken chain is refused with its head, the descriptor at fault and the table\'s bounds', () => {
    const cases: Array<[string, (d: TestDriver) => void, VirtqueueErrorCode, string, { indirect?: boolean }?]> = [
      ['avail jump', (d) => d.setAvailIndex(9), 'AVAIL_INDEX_JUMP', 'the driver made 9 buffers available on a queue of 8'],
      ['head', (d) => d.makeAvailable(8), 'BAD_HEAD_INDEX', 'head descriptor 8 is beyond the queue size 8'],
      [
        'loop',
        (d) => {
          d.writeDescriptor(0, { address: 0x40000, length: 4, flags: DescFlag.NEXT, next: 0 });
          d.makeAvailable(0);
        },
        'CHAIN_TOO_LONG',
        'chain from head 0 is longer than its table (8 descriptors): a loop or an overlong chain',
      ],
      [
        'next',
        (d) => {
          d.writeDescriptor(2, { address: 0x40000, length: 4, flags: DescFlag.NEXT, next: 8 });
          d.makeAvailable(2);
        },
        'BAD_NEXT_INDEX',
        'descriptor 2 points to 8, beyond its table of 8',
      ],
      [
        'order',
        (d) => {
          d.writeDescriptor(1, { address: 0x40000, length: 4, flags: DescFlag.WRITE | DescFlag.NEXT, next: 2 });
          d.writeDescriptor(2, { address: 0x40010, length: 4, flags: 0, next: 0 });
          d.makeAvailable(1);
        },
        'WRITABLE_BEFORE_READABLE',
        'chain from head 1 has a readable buffer after a writable one',
      ],
      [
        'buffer',
        (d) => {
          d.writeDescriptor(0, { address: END - 4, length: 8, flags: 0, next: 0 });
          d.makeAvailable(0);
        },
        'BUFFER_OUT_OF_RANGE',
        `buffer [0x${(END - 4).toString(16)}, +8) is not inside guest RAM`,
      ],
      [
        'indirect off',
        (d) => {
          d.writeDescriptor(0, { address: 0x50000, length: 32, flags: DescFlag.INDIRECT, next: 0 });
          d.makeAvailable(0);
        },
        'INDIRECT_NOT_NEGOTIATED',
        'indirect descriptor without VIRTIO_F_INDIRECT_DESC',
      ],
      [
        'indirect next',
        (d) => {
          d.writeDescriptor(0, { address: 0x50000, length: 32, flags: DescFlag.INDIRECT | DescFlag.NEXT, next: 1 });
          d.makeAvailable(0);
        },
        'BAD_INDIRECT_TABLE',
        'indirect descriptor with NEXT set',
        { indirect: true },
      ],
      [
        'indirect size',
        (d) => {
          d.writeDescriptor(0, { address: 0x50000, length: 24, flags: DescFlag.INDIRECT, next: 0 });
          d.makeAvailable(0);
        },
        'BAD_INDIRECT_TABLE',
        'indirect table of 24 bytes (a non-zero multiple of 16, at most 32768 entries)',
        { indirect: true },
      ],
      [
        'indirect too big',
        (d) => {
          d.writeDescriptor(0, { address: 0x50000, length: 16 * 32769, flags: DescFlag.INDIRECT, next: 0 });
          d.makeAvailable(0);
        },
        'BAD_INDIRECT_TABLE',
        'indirect table of 524304 bytes (a non-zero multiple of 16, at most 32768 entries)',
        { indirect: true },
      ],
      [
        'over 4 GiB',
        (d) => {
          // 4097 descriptors of 1 MiB, all over the same guest RAM: one more MiB than 4 GiB.
          for (let i = 0; i < 4097; i++) d.writeDescriptor(i, { address: 0, length: 0x100000, flags: i < 4096 ? DescFlag.NEXT : 0, next: i + 1 }, 0x20000);
          d.writeDescriptor(0, { address: 0x20000, length: 16 * 4097, flags: DescFlag.INDIRECT, next: 0 });
          d.makeAvailable(0);
        },
        'LENGTH_OVERFLOW',
        'chain from head 0 is longer than 4 GiB',
        { indirect: true },
      ],
      [
        'nested',
        (d) => {
          d.writeDescriptor(0, { address: 0x50000, length: 16, flags: DescFlag.INDIRECT, next: 0 });
          d.writeDescriptor(0, { address: 0x60000, length: 16, flags: DescFlag.INDIRECT, next: 0 }, 0x50000);
          d.makeAvailable(0);
        },
        'NESTED_INDIRECT',
        'indirect descriptor inside an indirect table',
        { indirect: true },
      ],
    ];
    for (const [what, breakIt, code, message, options] of cases) {
      const { driver, queue: q } = queue(options);
      breakIt(driver);
      assert.deepEqual(refusal(() => q.pop()), { code, message: `virtqueue: ${message}` }, what);
      assert.equal(q.failure?.code, code, `${what}: the queue stays failed`);
    }
  });

  it('an access guest memory refuses (a region that lied about its bounds) fails the queue as BUFFER_OUT_OF_RANGE', () => {
    const lying = { ...queueMemoryOps(memory), contains: () => true };
    const q = new SplitVirtqueue(lying, { ...base, availRing: END + 0x1000 });
    assert.throws(() => q.pending, (e: unknown) => e instanceof VirtqueueError && e.code === 'BUFFER_OUT_OF_RANGE');
    assert.equal(q.failure?.code, 'BUFFER_OUT_OF_RANGE');
    assert.equal(q.pending, 0, 'failed: nothing pending');
  });

  it('2.7.10: without EVENT_IDX the device leaves avail_event alone', () => {
    const { driver, queue: q } = queue();
    const availEvent = driver.config.usedRing + Used.RING + Used.ENTRY * 8;
    memory.writeU16(availEvent, 0xbeef);
    driver.makeAvailable(driver.writeChain(0, [{ address: 0x40000, length: 4, writable: false }]));
    assert.ok(q.pop());
    q.unpop();
    assert.equal(memory.readU16(availEvent), 0xbeef);
    const { driver: withIdx, queue: eventQueue } = queue({ eventIdx: true });
    withIdx.makeAvailable(withIdx.writeChain(0, [{ address: 0x40000, length: 4, writable: false }]));
    assert.ok(eventQueue.pop());
    assert.equal(memory.readU16(availEvent), 1, 'with EVENT_IDX: the next avail index to notify at');
  });

  it('2.1.2: once failed (NEEDS_RESET), a queue signals nothing more, even for buffers used before the failure', () => {
    const { driver, queue: q } = queue();
    driver.makeAvailable(driver.writeChain(0, [{ address: 0x40000, length: 4, writable: true }]));
    const chain = q.pop();
    q.pushUsed(chain?.head ?? -1, 4);
    driver.makeAvailable(8);
    assert.throws(() => q.pop(), VirtqueueError);
    assert.equal(q.shouldSignal(), false);
    assert.equal(q.pending, 0);
  });
});
