// The pieces under the virtio-mmio transport: its shared state (mmio-state.ts), the split ring layout
// (virtio 1.2, 2.7), byte ranges across descriptor buffers (views.ts), VirtqueueError, and the vCPU-thread
// half that serves the register window and signals the status eventfd (mmio-module.ts).
import { strict as assert } from 'node:assert';
import { VirtqueueError } from '../../lib/devices/virtio/transport/errors';
import { setup as setupMmioModule } from '../../lib/devices/virtio/transport/mmio-module';
import { DeviceStatus, MmioReg, VIRTIO_MMIO_MAGIC, VIRTIO_MMIO_WINDOW } from '../../lib/devices/virtio/transport/mmio-registers';
import { createVirtioMmioState, isVirtioMmioState, MAX_VIRTIO_QUEUES, QueueIndexSlots } from '../../lib/devices/virtio/transport/mmio-state';
import { VirtioMmioTransport } from '../../lib/devices/virtio/transport/mmio-transport';
import { availRingBytes, descriptorTableBytes, isValidQueueSize, MAX_QUEUE_SIZE, usedRingBytes } from '../../lib/devices/virtio/transport/split-ring-layout';
import { SplitVirtqueue } from '../../lib/devices/virtio/transport/split-virtqueue';
import { take } from '../../lib/devices/virtio/transport/views';
import { EventFd } from '../../lib/kvm/eventfd';
import { BusError, ConfigError, VmmError } from '../../lib/kvm/errors';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { fakeContext } from '../helpers/fake-context';
import { MmioDriver } from '../helpers/mmio-driver';

/** Int32 slots of the transport state: 16 header slots and 12 per queue, for 8 queues. */
const SLOT_BYTES = (16 + MAX_VIRTIO_QUEUES * 12) * 4;
const CONFIG_SPACE_MAX = 0x1000 - 0x100;

function description(queueSizes: readonly number[], config?: Uint8Array) {
  return { deviceId: 4, features: 0n, queueSizes, ...(config !== undefined ? { config } : {}) };
}

describe('virtio-mmio transport state', () => {
  it('4.2.2: a device has 1 to 8 queues, each a power of two up to 32768 (QueueNumMax)', () => {
    assert.throws(() => createVirtioMmioState(description([])), (e: unknown) => e instanceof ConfigError && /1 to 8 queues, not 0/.test(e.message));
    assert.throws(() => createVirtioMmioState(description(new Array<number>(9).fill(8))), (e: unknown) => e instanceof ConfigError && /1 to 8 queues, not 9/.test(e.message));
    const sizes = [1, 2, 4, 8, 16, 256, 1024, 32768];
    const transport = new VirtioMmioTransport(createVirtioMmioState(description(sizes)));
    assert.equal(transport.queueCount, 8);
    const driver = new MmioDriver(transport);
    sizes.forEach((size, q) => {
      driver.write(MmioReg.QUEUE_SEL, q);
      assert.equal(driver.read(MmioReg.QUEUE_NUM_MAX), size, `queue ${q}`);
    });
    for (const bad of [3, 0, 65536]) {
      assert.throws(() => createVirtioMmioState(description([8, bad])), (e: unknown) => e instanceof ConfigError && e.message === `virtio queue size ${bad} is not a power of two up to 32768`);
    }
  });

  it('4.2.2: the config space is at most 0xf00 bytes (0x100 to the end of the 4 KiB window)', () => {
    const largest = Uint8Array.from({ length: CONFIG_SPACE_MAX }, (_v, i) => i & 0xff);
    const state = createVirtioMmioState(description([8], largest));
    assert.equal(state.config.byteLength, CONFIG_SPACE_MAX);
    assert.deepEqual(new Uint8Array(state.config), largest);
    assert.throws(() => createVirtioMmioState(description([8], new Uint8Array(CONFIG_SPACE_MAX + 1))), (e: unknown) => e instanceof ConfigError && e.message === `virtio config space of ${CONFIG_SPACE_MAX + 1} bytes exceeds ${CONFIG_SPACE_MAX}`);
    assert.equal(createVirtioMmioState(description([8])).config.byteLength, 1, 'no config space: one byte of shared memory');
  });

  it('isVirtioMmioState accepts a state and refuses anything else (what the vCPU-thread half is handed)', () => {
    const state = createVirtioMmioState(description([8]));
    assert.equal(isVirtioMmioState(state), true);
    assert.equal(isVirtioMmioState({ slots: new SharedArrayBuffer(SLOT_BYTES), config: new SharedArrayBuffer(1) }), true, 'exactly the slots needed');
    for (const [what, value] of [
      ['null', null],
      ['undefined', undefined],
      ['a string', 'state'],
      ['an empty object', {}],
      ['slots one short', { slots: new SharedArrayBuffer(SLOT_BYTES - 4), config: state.config }],
      ['slots a quarter of the size', { slots: new SharedArrayBuffer(SLOT_BYTES / 4), config: state.config }],
      ['slots not shared', { slots: new ArrayBuffer(SLOT_BYTES), config: state.config }],
      ['config not shared', { slots: state.slots, config: new ArrayBuffer(8) }],
      ['no config', { slots: state.slots }],
    ] as const) {
      assert.equal(isVirtioMmioState(value), false, what);
    }
  });

  it('2.7: each queue keeps its ring positions in its own slots, which a reset clears and nothing else touches', () => {
    const state = createVirtioMmioState(description([8, 8, 8]));
    const transport = new VirtioMmioTransport(state);
    const driver = new MmioDriver(transport);
    driver.negotiate();
    const features = transport.negotiatedFeatures;
    const positions = [0, 1, 2].map((q) => transport.queueIndices(q));
    positions.forEach((p, q) => Object.assign(p, { nextAvail: 10 + q, nextUsed: 20 + q, usedAtLastSignal: 30 + q }));
    const seen = [0, 1, 2].map((q) => new QueueIndexSlots(new Int32Array(state.slots), q));
    assert.deepEqual(seen.map((p) => [p.nextAvail, p.nextUsed, p.usedAtLastSignal]), [[10, 20, 30], [11, 21, 31], [12, 22, 32]]);
    assert.equal(transport.negotiatedFeatures, features, 'the feature slots are untouched');
    assert.equal(transport.takePendingNotifies(), 0, 'nor the pending notifications');
    assert.equal(transport.registerNotifications, 0);
    driver.write(MmioReg.QUEUE_SEL, 2);
    assert.equal(driver.read(MmioReg.QUEUE_NUM_MAX), 8);
    driver.write(MmioReg.STATUS, 0);
    assert.deepEqual(seen.map((p) => [p.nextAvail, p.nextUsed, p.usedAtLastSignal]), [[0, 0, 0], [0, 0, 0], [0, 0, 0]]);
  });
});

describe('split ring layout (virtio 1.2, 2.7)', () => {
  it('2.7: the descriptor table is 16 bytes an entry; the rings have flags, idx, entries and the event word', () => {
    assert.equal(descriptorTableBytes(256), 4096);
    assert.equal(availRingBytes(256), 2 + 2 + 2 * 256 + 2);
    assert.equal(usedRingBytes(256), 2 + 2 + 8 * 256 + 2);
    assert.equal(usedRingBytes(1), 14);
  });

  it('2.7: a queue size is a power of two from 1 to 32768', () => {
    for (const size of [1, 2, 64, MAX_QUEUE_SIZE]) assert.equal(isValidQueueSize(size), true, `${size}`);
    for (const size of [0, -1, -2, 1.5, 3, 96, MAX_QUEUE_SIZE * 2, Number.NaN]) assert.equal(isValidQueueSize(size), false, `${size}`);
  });

  it('2.7: a ring that ends past guest RAM by its last entry or its event word is refused', () => {
    const memory = GuestMemory.allocate(ramLayout(1024 * 1024));
    try {
      const end = 1024 * 1024;
      const size = 8;
      const refused = (config: { descTable?: number; availRing?: number; usedRing?: number }, what: string): void => {
        assert.throws(() => new SplitVirtqueue(memory, { ...fits, ...config }), (e: unknown) => e instanceof VirtqueueError && e.code === 'RING_OUT_OF_RANGE', what);
      };
      // Size 8: a 128-byte table (16-aligned), a 22-byte avail ring (2-aligned), a 70-byte used ring (4-aligned).
      const fits = { size, descTable: end - 128, availRing: end - 22, usedRing: end - 72 };
      assert.ok(new SplitVirtqueue(memory, fits));
      refused({ usedRing: end - 68 }, 'used ring: avail_event 2 bytes past the end');
      refused({ availRing: end - 20 }, 'avail ring: used_event 2 bytes past the end');
      refused({ descTable: end - 112 }, 'descriptor table: one entry past the end');
    } finally {
      memory.dispose();
    }
  });
});

describe('views across descriptor buffers', () => {
  const buffers = [Uint8Array.of(0, 1), new Uint8Array(0), Uint8Array.of(2, 3, 4, 5), Uint8Array.of(6, 7, 8)];
  const flat = (views: Uint8Array[]): number[][] => views.map((v) => [...v]);

  it('takes a range that starts inside a later buffer and spans the next', () => {
    assert.deepEqual(flat(take(buffers, 3, 4)), [[3, 4, 5], [6]]);
    assert.deepEqual(flat(take(buffers, 0, 9)), [[0, 1], [2, 3, 4, 5], [6, 7, 8]], 'no empty views');
  });

  it('a start on a buffer boundary begins the next buffer with no empty view; past the end gives nothing', () => {
    assert.deepEqual(flat(take(buffers, 2, 3)), [[2, 3, 4]]);
    assert.deepEqual(flat(take(buffers, 6, 2)), [[6, 7]]);
    assert.deepEqual(flat(take(buffers, 9, 4)), []);
    assert.deepEqual(flat(take(buffers, 1, 0)), []);
    assert.deepEqual(flat(take(buffers, 8, 10)), [[8]], 'a length past the end gives what there is');
  });

  it('views share the buffers (no copies)', () => {
    const [view] = take(buffers, 4, 1);
    (view as Uint8Array)[0] = 0x44;
    assert.equal(buffers[2]?.[2], 0x44);
    (view as Uint8Array)[0] = 4;
  });
});

describe('VirtqueueError', () => {
  it('carries its code and a message naming the virtqueue; it is a VmmError', () => {
    const error = new VirtqueueError('AVAIL_INDEX_JUMP', 'the driver made 9 buffers available');
    assert.ok(error instanceof VmmError);
    assert.equal(error.code, 'AVAIL_INDEX_JUMP');
    assert.equal(error.message, 'virtqueue: the driver made 9 buffers available');
    assert.equal(error.name, 'VirtqueueError');
  });
});

describe('virtio-mmio vCPU-thread half (mmio-module)', () => {
  const BASE = 0xd000_0000;
  let statusFd: EventFd;
  beforeEach(() => {
    statusFd = new EventFd();
  });
  afterEach(() => statusFd.close());

  function serve(queueSizes = [8, 8]) {
    const state = createVirtioMmioState(description(queueSizes));
    const context = fakeContext();
    setupMmioModule(context, { state, base: BASE, statusFd: statusFd.fd });
    const bus = context.mmio;
    const read = (offset: number): number => {
      const data = new Uint8Array(4);
      bus.read(BASE + offset, data);
      return new DataView(data.buffer).getUint32(0, true);
    };
    const write = (offset: number, value: number): void => {
      const data = new Uint8Array(4);
      new DataView(data.buffer).setUint32(0, value >>> 0, true);
      bus.write(BASE + offset, data);
    };
    return { state, bus, read, write, main: new VirtioMmioTransport(state) };
  }

  it('4.2.2: serves the 4 KiB register window at its base over the shared state', () => {
    const { read, main, bus } = serve();
    assert.equal(read(MmioReg.MAGIC), VIRTIO_MMIO_MAGIC);
    assert.equal(read(MmioReg.DEVICE_ID), 4);
    main.updateConfig(0, Uint8Array.of(0xab));
    const byte = new Uint8Array(1);
    assert.equal(bus.read(BASE + 0x100, byte), true);
    assert.equal(byte[0], 0xab, 'config space at 0x100');
    assert.equal(bus.read(BASE + VIRTIO_MMIO_WINDOW - 1, byte), true, 'the last byte of the window is the device\'s');
    assert.equal(bus.read(BASE + VIRTIO_MMIO_WINDOW, byte), false, 'nothing past the window');
    assert.equal(bus.read(BASE - 1, byte), false);
  });

  it('3.1.1: DRIVER_OK and a reset signal the status eventfd; other status writes do not', () => {
    const { write, read } = serve();
    write(MmioReg.STATUS, DeviceStatus.ACKNOWLEDGE);
    write(MmioReg.STATUS, DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
    assert.equal(statusFd.take(), 0);
    write(MmioReg.DRIVER_FEATURES_SEL, 1);
    write(MmioReg.DRIVER_FEATURES, 1);
    write(MmioReg.STATUS, DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK);
    assert.equal(statusFd.take(), 0);
    write(MmioReg.STATUS, read(MmioReg.STATUS) | DeviceStatus.DRIVER_OK);
    assert.equal(statusFd.take(), 1, 'DRIVER_OK');
    write(MmioReg.STATUS, 0);
    assert.equal(statusFd.take(), 1, 'reset');
  });

  it('4.2.3.3: a QueueNotify that reaches the register is recorded for the back end and signals the status eventfd', () => {
    const { write, read, main } = serve();
    write(MmioReg.STATUS, DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
    write(MmioReg.DRIVER_FEATURES_SEL, 1);
    write(MmioReg.DRIVER_FEATURES, 1);
    write(MmioReg.STATUS, DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK);
    write(MmioReg.STATUS, read(MmioReg.STATUS) | DeviceStatus.DRIVER_OK);
    statusFd.take();
    write(MmioReg.QUEUE_NOTIFY, 1);
    assert.equal(statusFd.take(), 1);
    assert.equal(main.takePendingNotifies(), 0b10);
    assert.equal(main.registerNotifications, 1);
  });

  it('registers the whole 4 KiB window under its name (a second device on it is refused)', () => {
    const state = createVirtioMmioState(description([8]));
    const context = fakeContext();
    setupMmioModule(context, { state, base: BASE, statusFd: statusFd.fd });
    assert.throws(
      () => setupMmioModule(context, { state, base: BASE + VIRTIO_MMIO_WINDOW - 4, statusFd: statusFd.fd }),
      (e: unknown) => e instanceof BusError && e.message === `virtio-mmio: mmio range 0x${(BASE + 0xffc).toString(16)}+0x1000 overlaps virtio-mmio at 0x${BASE.toString(16)}+0x1000`,
    );
  });

  it('refuses args that are not { state, base, statusFd }', () => {
    const state = createVirtioMmioState(description([8]));
    const good = { state, base: BASE, statusFd: statusFd.fd };
    for (const [what, args] of [
      ['no args', undefined],
      ['a bad state', { ...good, state: {} }],
      ['a base that is not an integer', { ...good, base: 0.5 }],
      ['a base beyond 2^53', { ...good, base: 2 ** 54 }],
      ['a status fd that is not an integer', { ...good, statusFd: '3' }],
    ] as const) {
      assert.throws(() => setupMmioModule(fakeContext(), args), (e: unknown) => e instanceof ConfigError && e.message === 'virtio-mmio module: args must be { state: VirtioMmioState, base: number, statusFd: number }', what);
    }
  });
});
