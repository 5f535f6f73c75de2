// virtio-rng's back end and device (virtio 1.2, 5.4): the bytes a request gets, the per-turn budget
// that lets the device fill less than a whole buffer (5.4.6.1), the counters, and the device
// description and options, with the back end once on a real I/O thread.
import { strict as assert } from 'node:assert';
import { DeviceCounters } from '../../lib/devices/counters';
import { createBackend, RNG_BYTES_PER_TURN, RNG_COUNTERS, VirtioRngBackend } from '../../lib/devices/virtio/rng/backend';
import { RNG_QUEUE_SIZE, rngDescription, VirtioRngDevice } from '../../lib/devices/virtio/rng/device';
import { DeviceStatus, VIRTIO_MMIO_WINDOW, VirtioDeviceId, VirtioFeature } from '../../lib/devices/virtio/transport/mmio-registers';
import { createVirtioMmioState } from '../../lib/devices/virtio/transport/mmio-state';
import { VirtioMmioTransport } from '../../lib/devices/virtio/transport/mmio-transport';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { placed } from '../helpers/devices';
import { hostDevice } from '../helpers/hosted-device';
import { MmioDriver } from '../helpers/mmio-driver';
import { TestDriver } from '../helpers/virtqueue-driver';

const RAM = 2 * 1024 * 1024;
const RINGS = 0x10000;
const DATA = 0x100000;
const KIB = 1024;

describe('virtio-rng back end: bytes, budget and counters (5.4.6)', () => {
  let memory: GuestMemory;
  beforeEach(() => {
    memory = GuestMemory.allocate(ramLayout(RAM));
  });
  afterEach(() => memory.dispose());

  /** A back end whose "randomness" is a counter, so every byte handed out can be checked. */
  function rig() {
    const transport = new VirtioMmioTransport(createVirtioMmioState(rngDescription()));
    const counters = new DeviceCounters(RNG_COUNTERS);
    let next = 0;
    let signals = 0;
    const backend = createBackend({ transport, memory, signal: () => signals++, counters }, { fill: (buffer) => buffer.forEach((_, i) => (buffer[i] = (next++ % 251) + 1)) });
    assert.ok(backend instanceof VirtioRngBackend);
    const driver = new MmioDriver(transport);
    const queue = new TestDriver(memory, RINGS, 16);
    assert.notEqual(driver.negotiate() & DeviceStatus.FEATURES_OK, 0);
    driver.setupQueue(0, queue.config);
    driver.driverOk();
    backend.activate();
    /** Offers a chain of writable buffers (pre-filled with zeros) at descriptor `first`. */
    const offer = (first: number, buffers: { address: number; length: number }[]): void => {
      for (const b of buffers) memory.writeBytes(b.address, new Uint8Array(b.length));
      queue.makeAvailable(queue.writeChain(first, buffers.map((b) => ({ ...b, writable: true }))));
    };
    /** The bytes the filler would hand out for stream positions [from, from + length). */
    const stream = (from: number, length: number): Buffer => Buffer.from(Array.from({ length }, (_, i) => ((from + i) % 251) + 1));
    return { backend, counters, queue, offer, stream, signals: () => signals };
  }

  it('5.4.6: fills every writable buffer of a chain from the source; used length is what was written', () => {
    const r = rig();
    r.offer(0, [
      { address: DATA, length: 100 },
      { address: DATA + 0x1000, length: 300 },
    ]);
    r.offer(2, [{ address: DATA + 0x2000, length: 16 }]);
    r.backend.notify();
    assert.deepEqual([r.queue.usedEntry(0), r.queue.usedEntry(1)], [{ id: 0, len: 400 }, { id: 2, len: 16 }]);
    assert.deepEqual(Buffer.from(memory.readBytes(DATA, 100)), r.stream(0, 100));
    assert.deepEqual(Buffer.from(memory.readBytes(DATA + 0x1000, 300)), r.stream(100, 300));
    assert.deepEqual(Buffer.from(memory.readBytes(DATA + 0x2000, 16)), r.stream(400, 16));
    assert.equal(r.backend.served, 416);
    assert.deepEqual(r.counters.read(), { requests: 2, bytes: 416 });
    assert.equal(r.signals(), 1);
  });

  it(`5.4.6.1: a chain larger than RNG_BYTES_PER_TURN (${RNG_BYTES_PER_TURN / KIB} KiB) gets that much; the rest of it is left alone and the next chain waits for a later turn`, async () => {
    const r = rig();
    r.offer(0, [
      { address: DATA, length: 40 * KIB },
      { address: DATA + 64 * KIB, length: 40 * KIB },
    ]);
    r.offer(2, [{ address: DATA + 160 * KIB, length: 8 }]);
    r.backend.notify();
    assert.equal(r.queue.usedIndex(), 1, 'the budget is spent on the first chain');
    assert.deepEqual(r.queue.usedEntry(0), { id: 0, len: RNG_BYTES_PER_TURN });
    assert.deepEqual(Buffer.from(memory.readBytes(DATA + 64 * KIB, 24 * KIB)), r.stream(40 * KIB, 24 * KIB), 'the second buffer up to the budget');
    assert.deepEqual(Buffer.from(memory.readBytes(DATA + 88 * KIB, 16 * KIB)), Buffer.alloc(16 * KIB), 'and nothing beyond');
    await r.backend.idle();
    assert.deepEqual(r.queue.usedEntry(1), { id: 2, len: 8 });
    assert.deepEqual(r.counters.read(), { requests: 2, bytes: RNG_BYTES_PER_TURN + 8 });
  });

  it('5.4.6.1: the chain that meets the budget mid-way gets only what is left of it; an empty chain is used with length 0', async () => {
    const r = rig();
    r.offer(0, [{ address: DATA, length: 60 * KIB }]);
    r.offer(1, [
      { address: DATA + 64 * KIB, length: 3 * KIB },
      { address: DATA + 68 * KIB, length: 3 * KIB },
    ]);
    r.offer(3, [{ address: DATA + 72 * KIB, length: 32 }]);
    r.backend.notify();
    assert.equal(r.queue.usedIndex(), 2, 'the third chain is not taken once the budget is 0');
    assert.deepEqual(r.queue.usedEntry(1), { id: 1, len: 4 * KIB });
    assert.deepEqual(Buffer.from(memory.readBytes(DATA + 68 * KIB, 3 * KIB)), Buffer.concat([r.stream(63 * KIB, KIB), Buffer.alloc(2 * KIB)]));
    await r.backend.idle();
    assert.deepEqual(r.queue.usedEntry(2), { id: 3, len: 32 });
    r.queue.makeAvailable(r.queue.writeChain(4, [{ address: DATA, length: 0, writable: true }]));
    r.backend.notify();
    assert.deepEqual(r.queue.usedEntry(3), { id: 4, len: 0 });
    assert.equal(r.counters.get('requests'), 4);
  });
});

describe('virtio-rng device', () => {
  it('5.4.1-5.4.4: an entropy device with indirect descriptors and EVENT_IDX, one 256-entry queue, no config space', () => {
    const description = rngDescription();
    assert.equal(description.deviceId, VirtioDeviceId.ENTROPY);
    assert.equal(description.features, (1n << VirtioFeature.INDIRECT_DESC) | (1n << VirtioFeature.EVENT_IDX));
    assert.deepEqual(description.queueSizes, [RNG_QUEUE_SIZE]);
    assert.equal(RNG_QUEUE_SIZE, 256);
    assert.equal(description.config, undefined);
  });

  it('takes its id, window and line from the options, its kind, prefix and counters from virtio-rng', () => {
    const given = new VirtioRngDevice({ id: 'entropy', base: 0xd000_1000, irq: 12 });
    assert.equal(given.kind, 'virtio-rng');
    assert.equal(given.idPrefix, 'rng');
    assert.equal(given.requestedId, 'entropy');
    assert.deepEqual(given.needs, { mmioWindow: { size: VIRTIO_MMIO_WINDOW, base: 0xd000_1000 }, irq: { line: 12 } });
    assert.deepEqual(given.counters?.names, RNG_COUNTERS);
    const plain = new VirtioRngDevice();
    placed(plain);
    assert.equal(plain.id, 'rng0');
  });

  it('5.4.6: on its I/O thread it fills a request with random bytes and counts them', async function () {
    this.timeout(30_000);
    const memory = GuestMemory.allocate(ramLayout(RAM));
    const device = new VirtioRngDevice();
    const hosted = await hostDevice(device, memory);
    try {
      const queue = new TestDriver(memory, RINGS, 16);
      assert.notEqual(hosted.driver.negotiate() & DeviceStatus.FEATURES_OK, 0);
      hosted.driver.setupQueue(0, queue.config);
      hosted.driver.driverOk();
      hosted.statusChanged();
      memory.writeBytes(DATA, new Uint8Array(256));
      queue.makeAvailable(queue.writeChain(0, [{ address: DATA, length: 256, writable: true }]));
      hosted.notify(0);
      await queue.waitForUsed(0, 'the device answers');
      assert.deepEqual(queue.usedEntry(0), { id: 0, len: 256 });
      assert.ok(new Set(memory.readBytes(DATA, 256)).size > 64, 'random bytes');
      assert.deepEqual(device.counters?.read(), { requests: 1, bytes: 256 });
    } finally {
      await hosted.stop();
      memory.dispose();
    }
  });
});
