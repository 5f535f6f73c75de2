import { strict as assert } from 'node:assert';
import { DeviceStatus, InterruptBit, MmioReg, NODE_VMM_VENDOR_ID, VIRTIO_MMIO_MAGIC, VirtioDeviceId, VirtioFeature } from '../../lib/devices/virtio/transport/mmio-registers';
import { createVirtioMmioState } from '../../lib/devices/virtio/transport/mmio-state';
import { VirtioMmioTransport } from '../../lib/devices/virtio/transport/mmio-transport';
import { RNG_BYTES_PER_TURN, VirtioRngBackend } from '../../lib/devices/virtio/rng/backend';
import { rngDescription as rngDevice } from '../../lib/devices/virtio/rng/device';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { MmioDriver } from '../helpers/mmio-driver';
import { fuzzIterations, fuzzSeed, fuzzTimeout, reportChains } from '../helpers/fuzz-config';
import { Prng } from '../helpers/prng';
import { TestDriver } from '../helpers/virtqueue-driver';

const RAM = 1024 * 1024;
const RINGS = 0x10000;
const DATA = 0x40000;
const DEFAULT_HOSTILE_CHAINS = 10_000;
const HOSTILE_CHAINS = fuzzIterations(DEFAULT_HOSTILE_CHAINS);
const HOSTILE_SEED = fuzzSeed(0xbadc0de);

function setup(memory: GuestMemory) {
  let signals = 0;
  let backend: VirtioRngBackend | undefined;
  const transport = new VirtioMmioTransport(createVirtioMmioState(rngDevice()), {
    onDriverOk: () => backend?.activate(),
    onReset: () => backend?.reset(),
    onNotify: () => backend?.notify(),
  });
  backend = new VirtioRngBackend({ transport, memory, signal: () => signals++ });
  return { transport, backend, driver: new MmioDriver(transport), signals: () => signals };
}

describe('virtio-mmio transport with virtio-rng', () => {
  let memory: GuestMemory;
  beforeEach(() => {
    memory = GuestMemory.allocate(ramLayout(RAM));
  });
  afterEach(() => memory.dispose());

  it('identifies itself as a modern virtio-mmio entropy device offering VERSION_1', () => {
    const { driver } = setup(memory);
    assert.equal(driver.read(MmioReg.MAGIC), VIRTIO_MMIO_MAGIC);
    assert.equal(driver.read(MmioReg.VERSION), 2);
    assert.equal(driver.read(MmioReg.DEVICE_ID), VirtioDeviceId.ENTROPY);
    assert.equal(driver.read(MmioReg.VENDOR_ID), NODE_VMM_VENDOR_ID);
    assert.ok((driver.deviceFeatures() & (1n << VirtioFeature.VERSION_1)) !== 0n);
    driver.write(MmioReg.QUEUE_SEL, 0);
    assert.equal(driver.read(MmioReg.QUEUE_NUM_MAX), 256);
    driver.write(MmioReg.QUEUE_SEL, 1);
    assert.equal(driver.read(MmioReg.QUEUE_NUM_MAX), 0, 'no second queue');
  });

  it('refuses FEATURES_OK for features it does not offer, or without VERSION_1', () => {
    const { driver } = setup(memory);
    assert.equal(driver.negotiate((1n << VirtioFeature.VERSION_1) | (1n << 40n)) & DeviceStatus.FEATURES_OK, 0);
    assert.equal(driver.negotiate(0n) & DeviceStatus.FEATURES_OK, 0);
    assert.notEqual(driver.negotiate() & DeviceStatus.FEATURES_OK, 0);
  });

  it('fills a request with random bytes, raises the used-buffer interrupt, and the ack clears it', () => {
    const { driver, transport, backend, signals } = setup(memory);
    const queue = new TestDriver(memory, RINGS, 16);
    driver.negotiate();
    driver.setupQueue(0, queue.config);
    driver.driverOk();
    queue.makeAvailable(queue.writeChain(0, [{ address: DATA, length: 64, writable: true }]));
    driver.write(MmioReg.QUEUE_NOTIFY, 0);
    assert.equal(queue.usedIndex(), 1);
    assert.deepEqual(queue.usedEntry(0), { id: 0, len: 64 });
    const bytes = memory.readBytes(DATA, 64);
    assert.ok(new Set(bytes).size > 16, 'random bytes, not a constant');
    assert.equal(backend.served, 64);
    assert.equal(signals(), 1);
    assert.equal(driver.read(MmioReg.INTERRUPT_STATUS), InterruptBit.USED_BUFFER);
    driver.write(MmioReg.INTERRUPT_ACK, InterruptBit.USED_BUFFER);
    assert.equal(driver.read(MmioReg.INTERRUPT_STATUS), 0);
    assert.equal(transport.status & DeviceStatus.DEVICE_NEEDS_RESET, 0);
  });

  it('ignores status writes that clear bits, freezes queue setup once live, and resets on 0', () => {
    const { driver, transport } = setup(memory);
    const queue = new TestDriver(memory, RINGS, 16);
    driver.negotiate();
    driver.setupQueue(0, queue.config);
    driver.driverOk();
    driver.write(MmioReg.STATUS, DeviceStatus.ACKNOWLEDGE);
    assert.notEqual(transport.status & DeviceStatus.DRIVER_OK, 0);
    driver.write(MmioReg.QUEUE_NUM, 4);
    assert.equal(transport.queueConfig(0)?.size, 16);
    driver.write(MmioReg.STATUS, 0);
    assert.equal(transport.status, 0);
    assert.equal(transport.queueConfig(0), undefined);
    assert.equal(driver.read(MmioReg.QUEUE_READY), 0);
  });

  it('marks itself NEEDS_RESET when the queue lies outside guest RAM, and the host stays up', () => {
    const { driver, transport, signals } = setup(memory);
    driver.negotiate();
    driver.setupQueue(0, { size: 16, descTable: 0xffff_f000, availRing: 0x1_0000_0000, usedRing: 2 ** 60 });
    driver.driverOk();
    assert.notEqual(transport.status & DeviceStatus.DEVICE_NEEDS_RESET, 0);
    assert.equal(driver.read(MmioReg.INTERRUPT_STATUS) & InterruptBit.CONFIG_CHANGE, InterruptBit.CONFIG_CHANGE);
    assert.equal(signals(), 1);
    driver.write(MmioReg.QUEUE_NOTIFY, 0); // nothing to do, nothing thrown
  });

  it(`survives ${HOSTILE_CHAINS} hostile request chains (seed 0x${HOSTILE_SEED.toString(16)}): no exception, no access outside RAM, a defined end state`, async function () {
    this.timeout(fuzzTimeout(DEFAULT_HOSTILE_CHAINS, 60_000));
    const rng = new Prng(HOSTILE_SEED);
    let chains = 0;
    let needsReset = 0;
    while (chains < HOSTILE_CHAINS) {
      const { driver, transport, backend } = setup(memory);
      const queue = new TestDriver(memory, RINGS, 1 << rng.below(9), { indirect: true });
      driver.negotiate((1n << VirtioFeature.VERSION_1) | (1n << VirtioFeature.INDIRECT_DESC));
      driver.setupQueue(0, queue.config);
      driver.driverOk();
      for (let i = 0; i < queue.config.size; i++) {
        const hostile = rng.chance(0.2);
        queue.writeDescriptor(i, {
          address: hostile ? BigInt(rng.u32()) * BigInt(rng.u32()) : DATA + rng.below(0x1000) * 16,
          length: hostile ? rng.u32() : rng.below(4096),
          flags: hostile ? rng.below(8) : 2,
          next: rng.below(queue.config.size + 2),
        });
      }
      const offered = 1 + rng.below(queue.config.size);
      for (let i = 0; i < offered; i++) queue.makeAvailable(rng.below(queue.config.size + 1));
      chains += offered;
      driver.write(MmioReg.QUEUE_NOTIFY, 0);
      assert.ok(backend.served <= RNG_BYTES_PER_TURN, `one turn hands out at most ${RNG_BYTES_PER_TURN} bytes: ${backend.served}`);
      // Chains past a turn's budget are served in later turns of the event loop.
      await backend.idle();
      const status = transport.status;
      assert.ok((status & DeviceStatus.DEVICE_NEEDS_RESET) !== 0 || queue.usedIndex() === offered, 'either all served or NEEDS_RESET');
      if (status & DeviceStatus.DEVICE_NEEDS_RESET) needsReset++;
    }
    reportChains(chains);
    console.log(`      ${chains} chains, ${needsReset} queues ended NEEDS_RESET`);
    assert.ok(needsReset > 0);
  });
});
