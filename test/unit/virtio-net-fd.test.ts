// virtio-net's module export over a real non-blocking fd that is not a TAP (an eventfd: it takes and
// gives 8-byte "frames"), and the device's refusals that happen before any TAP is opened.
import { strict as assert } from 'node:assert';
import { claim } from '../../lib/devices/claims';
import { DeviceCounters } from '../../lib/devices/counters';
import { createBackend, NET_COUNTERS, NET_HEADER_SIZE, RX_QUEUE, TX_QUEUE, VirtioNetBackend } from '../../lib/devices/virtio/net/backend';
import { netDescription, VirtioNetDevice } from '../../lib/devices/virtio/net/device';
import { FdFrames } from '../../lib/devices/virtio/net/frames';
import { parseMac } from '../../lib/devices/virtio/net/mac';
import { DeviceStatus, VirtioFeature } from '../../lib/devices/virtio/transport/mmio-registers';
import { createVirtioMmioState } from '../../lib/devices/virtio/transport/mmio-state';
import { VirtioMmioTransport } from '../../lib/devices/virtio/transport/mmio-transport';
import { ConfigError } from '../../lib/kvm/errors';
import { EventFd } from '../../lib/kvm/eventfd';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { MmioDriver } from '../helpers/mmio-driver';
import { TestDriver } from '../helpers/virtqueue-driver';

describe('virtio-net back end over a real fd (an eventfd in place of a TAP)', () => {
  it('5.1.6: a transmitted frame is written to the fd, and what the fd gives is received after the header once it becomes readable', async () => {
    const memory = GuestMemory.allocate(ramLayout(1024 * 1024));
    const fd = new EventFd();
    const transport = new VirtioMmioTransport(createVirtioMmioState(netDescription(parseMac('52:54:00:00:00:02'))));
    const counters = new DeviceCounters(NET_COUNTERS);
    const backend = createBackend({ transport, memory, signal: () => {}, counters }, { tapFd: fd.fd });
    try {
      assert.ok(backend instanceof VirtioNetBackend);
      const driver = new MmioDriver(transport);
      const rx = new TestDriver(memory, 0x10000, 8);
      const tx = new TestDriver(memory, 0x20000, 8);
      assert.notEqual(driver.negotiate(1n << VirtioFeature.VERSION_1) & DeviceStatus.FEATURES_OK, 0);
      driver.setupQueue(RX_QUEUE, rx.config);
      driver.setupQueue(TX_QUEUE, tx.config);
      driver.driverOk();
      backend.activate();
      rx.makeAvailable(rx.writeChain(0, [{ address: 0x40000, length: 256, writable: true }]));
      backend.notify(RX_QUEUE);
      assert.equal(rx.usedIndex(), 0, 'nothing to read yet');
      const payload = Buffer.alloc(8);
      payload.writeBigUInt64LE(0x1234n);
      memory.writeBytes(0x50000, Buffer.concat([Buffer.alloc(NET_HEADER_SIZE), payload]));
      tx.makeAvailable(tx.writeChain(0, [{ address: 0x50000, length: NET_HEADER_SIZE + 8, writable: false }]));
      backend.notify(TX_QUEUE);
      assert.equal(tx.usedIndex(), 1);
      assert.equal(counters.get('txBytes'), 8);
      await rx.waitForUsed(0, 'the fd watcher delivers');
      assert.deepEqual(rx.usedEntry(0), { id: 0, len: NET_HEADER_SIZE + 8 });
      assert.equal(memory.readU64(0x40000 + NET_HEADER_SIZE), 0x1234n, 'the counter the frame wrote, read back');
      assert.equal(counters.get('rxFrames'), 1);
    } finally {
      backend.quiesce();
      fd.close();
      memory.dispose();
    }
  });
});

describe('FdFrames', () => {
  it('watching is true between watch() and unwatch() only', () => {
    const fd = new EventFd();
    try {
      const frames = new FdFrames(fd.fd);
      assert.equal(frames.watching, false);
      frames.watch(() => undefined);
      assert.equal(frames.watching, true);
      frames.watch(() => undefined);
      assert.equal(frames.watching, true, 'a second watch replaces the first');
      frames.unwatch();
      assert.equal(frames.watching, false);
      assert.equal(frames.read([new Uint8Array(8)]), null, 'nothing waiting: null, not an error');
    } finally {
      fd.close();
    }
  });
});

describe('virtio-net device: refusals before a TAP is opened', () => {
  it('a malformed MAC is a ConfigError; a TAP name another VM holds is a ClaimError', () => {
    assert.throws(() => new VirtioNetDevice({ tap: 'nvmm-unused0', mac: '01:00:00:00:00:00' }), ConfigError);
    const release = claim('TAP', 'nvmm-held0', {});
    try {
      assert.throws(() => new VirtioNetDevice({ tap: 'nvmm-held0' }), (e: Error) => e.name === 'ClaimError');
    } finally {
      release();
    }
  });

  it('a TAP that cannot be opened (a name over 15 characters) gives up the claim on its name', () => {
    const name = 'nvmm-name-too-long';
    for (let i = 0; i < 2; i++) assert.throws(() => new VirtioNetDevice({ tap: name }), (e: Error) => e.name !== 'ClaimError' && /15 characters/.test(e.message), `attempt ${i}`);
  });
});
