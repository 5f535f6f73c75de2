// The virtio-mmio transport against virtio 1.2, 4.2.2 (the register layout and what a device must do
// with each register) and 2.1 (the device status field). Each test names its section.
import { strict as assert } from 'node:assert';
import { DeviceStatus, InterruptBit, MmioReg, NODE_VMM_VENDOR_ID, VIRTIO_MMIO_CONFIG, VIRTIO_MMIO_MAGIC, VirtioFeature } from '../../lib/devices/virtio/transport/mmio-registers';
import { createVirtioMmioState } from '../../lib/devices/virtio/transport/mmio-state';
import { VirtioMmioTransport } from '../../lib/devices/virtio/transport/mmio-transport';
import { VirtioRngBackend } from '../../lib/devices/virtio/rng/backend';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { MmioDriver } from '../helpers/mmio-driver';
import { TestDriver } from '../helpers/virtqueue-driver';

const VERSION_1 = 1n << VirtioFeature.VERSION_1;
const OFFERED = VERSION_1 | (1n << VirtioFeature.EVENT_IDX) | (1n << 3n) | (1n << 40n);
const QUEUE_SIZES = [16, 64];
const CONFIG = Uint8Array.from({ length: 24 }, (_v, i) => 0x10 + i);
const { ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK, DEVICE_NEEDS_RESET, FAILED } = DeviceStatus;

function rig() {
  const events = { driverOk: 0, reset: 0, notify: [] as number[] };
  const transport = new VirtioMmioTransport(createVirtioMmioState({ deviceId: 42, features: OFFERED, queueSizes: QUEUE_SIZES, config: CONFIG }), {
    onDriverOk: () => events.driverOk++,
    onReset: () => events.reset++,
    onNotify: (queue) => events.notify.push(queue),
  });
  return { transport, driver: new MmioDriver(transport), events };
}

function readWidth(transport: VirtioMmioTransport, offset: number, width: number): bigint {
  const data = new Uint8Array(width).fill(0xee);
  transport.read(offset, data);
  return data.reduceRight((value, byte) => (value << 8n) | BigInt(byte), 0n);
}

function writeWidth(transport: VirtioMmioTransport, offset: number, width: number, value: bigint): void {
  const data = new Uint8Array(width);
  for (let i = 0; i < width; i++) data[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  transport.write(offset, data);
}

/** Every register offset of the control area (0x000-0x0fc). */
const CONTROL_OFFSETS = Array.from({ length: VIRTIO_MMIO_CONFIG / 4 }, (_v, i) => i * 4);

describe('virtio-mmio transport conformance (virtio 1.2, 4.2.2 and 2.1)', () => {
  it('4.2.2: identification registers read MagicValue, Version 2, DeviceID and VendorID', () => {
    const { driver } = rig();
    assert.equal(driver.read(MmioReg.MAGIC), VIRTIO_MMIO_MAGIC);
    assert.equal(driver.read(MmioReg.VERSION), 2);
    assert.equal(driver.read(MmioReg.DEVICE_ID), 42);
    assert.equal(driver.read(MmioReg.VENDOR_ID), NODE_VMM_VENDOR_ID);
  });

  it('4.2.2.2: control registers are 32-bit: every register read at width 1, 2 or 8, or unaligned, reads 0; at width 4 its value', () => {
    const { transport, driver } = rig();
    for (const offset of CONTROL_OFFSETS) {
      const value = BigInt(driver.read(offset));
      for (const width of [1, 2, 8]) assert.equal(readWidth(transport, offset, width), 0n, `offset 0x${offset.toString(16)} width ${width}`);
      assert.equal(readWidth(transport, offset + 2, 4), 0n, `offset 0x${(offset + 2).toString(16)} unaligned`);
      assert.equal(readWidth(transport, offset, 4), value);
    }
    assert.equal(readWidth(transport, MmioReg.MAGIC, 4), BigInt(VIRTIO_MMIO_MAGIC));
  });

  it('4.2.2.2: control register writes at width 1, 2 or 8, or unaligned, are ignored', () => {
    const { transport, driver } = rig();
    for (const width of [1, 2, 8]) {
      writeWidth(transport, MmioReg.STATUS, width, BigInt(ACKNOWLEDGE));
      writeWidth(transport, MmioReg.QUEUE_SEL, width, 1n);
      writeWidth(transport, MmioReg.DEVICE_FEATURES_SEL, width, 1n);
    }
    writeWidth(transport, MmioReg.STATUS + 1, 4, BigInt(ACKNOWLEDGE));
    assert.equal(driver.read(MmioReg.STATUS), 0);
    assert.equal(driver.read(MmioReg.QUEUE_NUM_MAX), QUEUE_SIZES[0], 'QueueSel still 0');
    assert.equal(driver.read(MmioReg.DEVICE_FEATURES), Number(OFFERED & 0xffffffffn), 'DeviceFeaturesSel still 0');
  });

  it('4.2.2.2: the config space reads at widths 1, 2, 4 and 8 (the driver picks the field width)', () => {
    const { transport } = rig();
    const expected = (offset: number, width: number): bigint => CONFIG.subarray(offset, offset + width).reduceRight((value, byte) => (value << 8n) | BigInt(byte), 0n);
    for (const width of [1, 2, 4, 8]) {
      for (let offset = 0; offset + width <= CONFIG.length; offset += width) assert.equal(readWidth(transport, VIRTIO_MMIO_CONFIG + offset, width), expected(offset, width), `config +${offset} width ${width}`);
    }
    assert.equal(readWidth(transport, VIRTIO_MMIO_CONFIG + CONFIG.length, 4), 0n, 'past the config space: 0');
  });

  it('4.2.2: DeviceFeatures shows word DeviceFeaturesSel of the offer; selectors past 1 read 0', () => {
    const { driver } = rig();
    const offered = OFFERED | VERSION_1;
    for (const [sel, word] of [[0, offered & 0xffffffffn], [1, offered >> 32n], [2, 0n], [3, 0n], [0x80000000, 0n], [0xffffffff, 0n]] as const) {
      driver.write(MmioReg.DEVICE_FEATURES_SEL, sel);
      assert.equal(BigInt(driver.read(MmioReg.DEVICE_FEATURES)), word, `DeviceFeaturesSel ${sel}`);
    }
  });

  it('4.2.2: DriverFeatures writes with DriverFeaturesSel past 1 change nothing; the accepted set is what words 0 and 1 say', () => {
    const { transport, driver } = rig();
    driver.write(MmioReg.STATUS, ACKNOWLEDGE);
    driver.write(MmioReg.STATUS, ACKNOWLEDGE | DRIVER);
    for (const sel of [2, 0xffffffff]) {
      driver.write(MmioReg.DRIVER_FEATURES_SEL, sel);
      driver.write(MmioReg.DRIVER_FEATURES, 0xffffffff);
    }
    assert.equal(transport.negotiatedFeatures, 0n);
    driver.write(MmioReg.DRIVER_FEATURES_SEL, 1);
    driver.write(MmioReg.DRIVER_FEATURES, 1);
    driver.write(MmioReg.STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK);
    assert.equal(driver.read(MmioReg.STATUS) & FEATURES_OK, FEATURES_OK);
    assert.equal(transport.negotiatedFeatures, VERSION_1);
    driver.write(MmioReg.DRIVER_FEATURES_SEL, 0);
    driver.write(MmioReg.DRIVER_FEATURES, 0xffffffff);
    assert.equal(transport.negotiatedFeatures, VERSION_1, 'frozen once FEATURES_OK is set (3.1.1)');
  });

  it('4.2.2: QueueSel past the last queue shows QueueNumMax 0 and QueueReady 0, and its setup writes go nowhere', () => {
    const { transport, driver } = rig();
    driver.negotiate(OFFERED);
    for (const sel of [QUEUE_SIZES.length, 7, 8, 0xffffffff]) {
      driver.write(MmioReg.QUEUE_SEL, sel);
      assert.equal(driver.read(MmioReg.QUEUE_NUM_MAX), 0, `QueueSel ${sel}`);
      driver.write(MmioReg.QUEUE_NUM, 8);
      driver.write(MmioReg.QUEUE_READY, 1);
      assert.equal(driver.read(MmioReg.QUEUE_READY), 0);
    }
    QUEUE_SIZES.forEach((size, q) => {
      driver.write(MmioReg.QUEUE_SEL, q);
      assert.equal(driver.read(MmioReg.QUEUE_NUM_MAX), size);
      assert.equal(transport.queueConfig(q), undefined, 'no queue made ready');
    });
    assert.equal(transport.negotiatedFeatures, OFFERED, 'nothing else written through a bad QueueSel');
    assert.equal(transport.queueConfig(-1), undefined);
    assert.equal(transport.queueConfig(QUEUE_SIZES.length), undefined);
  });

  it('4.2.3.2: queue setup: QueueNum up to QueueNumMax, 64-bit addresses, frozen while QueueReady or DRIVER_OK; the negotiated ring features reach the queue', () => {
    const { transport, driver } = rig();
    const max = QUEUE_SIZES[1] as number;
    const setup = { size: max, descTable: 0x1_2345_6000, availRing: 0x2_0000_1000, usedRing: 0x3_0000_2000 };
    for (const accept of [VERSION_1, OFFERED]) {
      driver.negotiate(accept);
      driver.setupQueue(1, setup);
      const eventIdx = accept === OFFERED;
      assert.deepEqual(transport.queueConfig(1), { ...setup, indirect: false, eventIdx });
    }
    driver.write(MmioReg.QUEUE_SEL, 1);
    assert.equal(driver.read(MmioReg.QUEUE_READY), 1);
    driver.write(MmioReg.QUEUE_NUM, 8);
    driver.write(MmioReg.QUEUE_DESC_LOW, 0);
    assert.deepEqual(transport.queueConfig(1)?.size, max, 'frozen while ready');
    assert.equal(transport.queueConfig(1)?.descTable, setup.descTable);
    driver.driverOk();
    driver.write(MmioReg.QUEUE_READY, 0);
    assert.equal(driver.read(MmioReg.QUEUE_READY), 1, 'frozen once live');
  });

  it('4.2.2: DriverFeatures writes before DRIVER is set are ignored; interrupts raised twice signal once', () => {
    const { transport, driver } = rig();
    driver.write(MmioReg.STATUS, ACKNOWLEDGE);
    driver.write(MmioReg.DRIVER_FEATURES_SEL, 1);
    driver.write(MmioReg.DRIVER_FEATURES, 1);
    assert.equal(transport.negotiatedFeatures, 0n);
    assert.equal(transport.raiseInterrupt(InterruptBit.USED_BUFFER), true);
    assert.equal(transport.raiseInterrupt(InterruptBit.USED_BUFFER), false, 'already pending');
  });

  it('2.1.2: a reset clears the queues\' ring positions; a transport without hooks takes notifications', () => {
    const transport = new VirtioMmioTransport(createVirtioMmioState({ deviceId: 42, features: OFFERED, queueSizes: QUEUE_SIZES }));
    const driver = new MmioDriver(transport);
    driver.negotiate(VERSION_1);
    driver.setupQueue(0, { size: 8, descTable: 0x1000, availRing: 0x2000, usedRing: 0x3000 });
    driver.driverOk();
    driver.write(MmioReg.QUEUE_NOTIFY, 0);
    const indices = transport.queueIndices(0);
    Object.assign(indices, { nextAvail: 5, nextUsed: 4, usedAtLastSignal: 3 });
    driver.write(MmioReg.STATUS, 0);
    assert.deepEqual([indices.nextAvail, indices.nextUsed, indices.usedAtLastSignal], [0, 0, 0]);
  });

  it('4.2.2: QueueNum above QueueNumMax (or 0) is not taken; the size stays what was last valid', () => {
    const { transport, driver } = rig();
    driver.negotiate();
    driver.write(MmioReg.QUEUE_SEL, 0);
    driver.write(MmioReg.QUEUE_NUM, 8);
    driver.write(MmioReg.QUEUE_NUM, (QUEUE_SIZES[0] as number) * 2);
    driver.write(MmioReg.QUEUE_NUM, 0);
    driver.write(MmioReg.QUEUE_READY, 1);
    assert.equal(transport.queueConfig(0)?.size, 8);
  });

  it('4.2.2: ConfigGeneration changes when the device changes its config space, and only then', () => {
    const { transport, driver } = rig();
    const before = driver.read(MmioReg.CONFIG_GENERATION);
    readWidth(transport, VIRTIO_MMIO_CONFIG, 4);
    assert.equal(driver.read(MmioReg.CONFIG_GENERATION), before, 'reads change nothing');
    transport.updateConfig(4, Uint8Array.of(1, 2));
    assert.notEqual(driver.read(MmioReg.CONFIG_GENERATION), before);
    assert.equal(readWidth(transport, VIRTIO_MMIO_CONFIG + 4, 2), 0x0201n);
  });

  it('4.2.3.3: QueueNotify before DRIVER_OK, or for a queue that does not exist, reaches no back end', () => {
    const { driver, events } = rig();
    driver.negotiate();
    driver.write(MmioReg.QUEUE_NOTIFY, 0);
    assert.deepEqual(events.notify, []);
    driver.driverOk();
    driver.write(MmioReg.QUEUE_NOTIFY, QUEUE_SIZES.length);
    driver.write(MmioReg.QUEUE_NOTIFY, 1);
    assert.deepEqual(events.notify, [1]);
  });

  it('4.2.2: InterruptACK clears exactly the bits written', () => {
    const { transport, driver } = rig();
    transport.raiseInterrupt(InterruptBit.USED_BUFFER | InterruptBit.CONFIG_CHANGE);
    driver.write(MmioReg.INTERRUPT_ACK, InterruptBit.USED_BUFFER);
    assert.equal(driver.read(MmioReg.INTERRUPT_STATUS), InterruptBit.CONFIG_CHANGE);
  });

  it('2.1.2: Status is 0 at first and after a reset, which also clears features, selectors and queues', () => {
    const { transport, driver, events } = rig();
    assert.equal(driver.read(MmioReg.STATUS), 0);
    driver.negotiate(VERSION_1);
    driver.setupQueue(0, { size: 8, descTable: 0x1000, availRing: 0x2000, usedRing: 0x3000 });
    driver.driverOk();
    transport.raiseInterrupt(InterruptBit.USED_BUFFER);
    driver.write(MmioReg.STATUS, 0);
    assert.equal(events.reset, 2, 'negotiate resets first, then the reset here');
    assert.equal(driver.read(MmioReg.STATUS), 0);
    assert.equal(transport.negotiatedFeatures, 0n);
    assert.equal(transport.queueConfig(0), undefined);
    assert.equal(driver.read(MmioReg.INTERRUPT_STATUS), 0);
  });

  it('2.1.1, 3.1.1: the driver only adds Status bits; DRIVER_OK without FEATURES_OK, or FEATURES_OK for features not offered or without VERSION_1, is refused', () => {
    const { driver, events } = rig();
    driver.write(MmioReg.STATUS, ACKNOWLEDGE | DRIVER);
    driver.write(MmioReg.STATUS, ACKNOWLEDGE);
    assert.equal(driver.read(MmioReg.STATUS), ACKNOWLEDGE | DRIVER, 'a write that clears a bit is ignored');
    driver.write(MmioReg.STATUS, ACKNOWLEDGE | DRIVER | DRIVER_OK);
    assert.equal(driver.read(MmioReg.STATUS) & DRIVER_OK, 0);
    assert.equal(events.driverOk, 0);
    assert.equal(driver.negotiate(VERSION_1 | (1n << 4n)) & FEATURES_OK, 0, 'bit 4 was not offered');
    assert.equal(driver.negotiate(1n << VirtioFeature.EVENT_IDX) & FEATURES_OK, 0, 'no VERSION_1');
    assert.equal(driver.negotiate(OFFERED) & FEATURES_OK, FEATURES_OK);
  });

  it('2.1.1: after FAILED the device does not go live until it is reset', () => {
    const { driver, events } = rig();
    driver.negotiate(VERSION_1);
    driver.write(MmioReg.STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | FAILED);
    assert.equal(driver.read(MmioReg.STATUS) & FAILED, FAILED);
    driver.write(MmioReg.STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | FAILED | DRIVER_OK);
    assert.equal(driver.read(MmioReg.STATUS) & DRIVER_OK, 0);
    assert.equal(events.driverOk, 0);
    driver.negotiate(VERSION_1);
    driver.driverOk();
    assert.equal(events.driverOk, 1, 'a reset starts over');
    driver.write(MmioReg.STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK | FAILED);
    assert.equal(driver.read(MmioReg.STATUS), ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK | FAILED, 'FAILED on a live device: the device clears nothing');
  });

  it('2.1.2: the device consumes no buffer before DRIVER_OK; NEEDS_RESET comes with a configuration change interrupt', () => {
    const memory = GuestMemory.allocate(ramLayout(1024 * 1024));
    try {
      const { transport, driver } = rig();
      let signals = 0;
      const backend = new VirtioRngBackend({ transport, memory, signal: () => signals++ });
      const queue = new TestDriver(memory, 0x10000, 8);
      queue.clearRings();
      driver.negotiate(VERSION_1);
      driver.setupQueue(0, queue.config);
      queue.makeAvailable(queue.writeChain(0, [{ address: 0x40000, length: 16, writable: true }]));
      backend.activate(); // a back end started early still finds no queue: none is live
      backend.notify(0);
      assert.equal(queue.usedIndex(), 0, 'nothing used before DRIVER_OK');
      driver.driverOk();
      backend.activate();
      backend.notify(0);
      assert.equal(queue.usedIndex(), 1);
      queue.makeAvailable(9); // a head beyond the queue
      backend.notify(0);
      assert.equal(driver.read(MmioReg.STATUS) & DEVICE_NEEDS_RESET, DEVICE_NEEDS_RESET);
      assert.equal(driver.read(MmioReg.INTERRUPT_STATUS) & InterruptBit.CONFIG_CHANGE, InterruptBit.CONFIG_CHANGE);
      assert.equal(signals, 2, 'one used-buffer interrupt, one configuration change');
    } finally {
      memory.dispose();
    }
  });
});
