// virtio-net over a real TAP interface whose other end sits in a network namespace the test creates:
// an ARP request the "guest" transmits is answered by the namespace's kernel and received back, and
// frames that arrive while the guest has no receive buffers wait (nothing lost) until it posts some.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { DeviceStatus, VirtioFeature } from '../../lib/devices/virtio/transport/mmio-registers';
import { createVirtioMmioState } from '../../lib/devices/virtio/transport/mmio-state';
import { VirtioMmioTransport } from '../../lib/devices/virtio/transport/mmio-transport';
import { DeviceCounters } from '../../lib/devices/counters';
import { NET_COUNTERS, NET_HEADER_SIZE, RX_QUEUE, TX_QUEUE, VirtioNetBackend } from '../../lib/devices/virtio/net/backend';
import { NetFeature, netDescription as netDevice } from '../../lib/devices/virtio/net/device';
import { FdFrames } from '../../lib/devices/virtio/net/frames';
import { parseMac } from '../../lib/devices/virtio/net/mac';
import { ConfigError } from '../../lib/kvm/errors';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { TapDevice } from '../../lib/net/tap';
import { MmioDriver } from '../helpers/mmio-driver';
import { NetNamespace, requireNetns } from '../helpers/netns';
import { TestDriver } from '../helpers/virtqueue-driver';

const RAM = 4 * 1024 * 1024;
const RX_RINGS = 0x10000;
const TX_RINGS = 0x20000;
const RX_BUFFERS = 0x100000;
const TX_BUFFER = 0x200000;
const BUFFER_SIZE = 2048;
const GUEST_MAC = '52:54:00:aa:bb:cc';
const GUEST_IP = [10, 77, 0, 2];
const HOST_IP = [10, 77, 0, 1];
const ETHERTYPE_ARP = 0x0806;

function arpRequest(mac: Uint8Array): Buffer {
  const frame = Buffer.alloc(60);
  frame.fill(0xff, 0, 6);
  frame.set(mac, 6);
  frame.writeUInt16BE(ETHERTYPE_ARP, 12);
  frame.writeUInt16BE(1, 14); // Ethernet
  frame.writeUInt16BE(0x0800, 16); // IPv4
  frame[18] = 6;
  frame[19] = 4;
  frame.writeUInt16BE(1, 20); // request
  frame.set(mac, 22);
  frame.set(GUEST_IP, 28);
  frame.set(HOST_IP, 38);
  return frame;
}

const until = async (condition: () => boolean, ms: number): Promise<boolean> => {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return condition();
};

describe('virtio-net over a TAP device in a network namespace', function () {
  let namespace: NetNamespace | undefined;
  let tap: TapDevice | undefined;
  let memory: GuestMemory;
  let backend: VirtioNetBackend | undefined;
  before(function () {
    requireNetns(this);
  });
  beforeEach(() => {
    memory = GuestMemory.allocate(ramLayout(RAM));
    tap = TapDevice.open(`nvmm${process.pid % 100000}`);
    namespace = new NetNamespace(`node-vmm-test-${process.pid}`);
    namespace.adopt(tap.name, `${HOST_IP.join('.')}/24`);
  });
  afterEach(async () => {
    await backend?.quiesce();
    backend = undefined;
    tap?.close();
    namespace?.delete();
    memory.dispose();
  });

  function rig() {
    const mac = parseMac(GUEST_MAC);
    const transport = new VirtioMmioTransport(createVirtioMmioState(netDevice(mac)));
    const counters = new DeviceCounters(NET_COUNTERS);
    const made = new VirtioNetBackend({ transport, memory, signal: () => {}, counters }, new FdFrames((tap as TapDevice).fd));
    backend = made;
    const driver = new MmioDriver(transport);
    const rx = new TestDriver(memory, RX_RINGS, 16);
    const tx = new TestDriver(memory, TX_RINGS, 16);
    assert.notEqual(driver.negotiate((1n << VirtioFeature.VERSION_1) | (1n << NetFeature.MAC)) & DeviceStatus.FEATURES_OK, 0);
    driver.setupQueue(RX_QUEUE, rx.config);
    driver.setupQueue(TX_QUEUE, tx.config);
    driver.driverOk();
    made.activate();
    const postRxBuffers = (count: number): void => {
      for (let i = 0; i < count; i++) rx.makeAvailable(rx.writeChain(i, [{ address: RX_BUFFERS + i * BUFFER_SIZE, length: BUFFER_SIZE, writable: true }]));
      made.notify(RX_QUEUE);
    };
    const received = (): Buffer[] =>
      Array.from({ length: rx.usedIndex() }, (_, slot) => {
        const { id, len } = rx.usedEntry(slot);
        return Buffer.from(memory.readBytes(RX_BUFFERS + id * BUFFER_SIZE, len));
      });
    return { mac, transport, backend: made, counters, driver, rx, tx, postRxBuffers, received };
  }

  it('puts the MAC in config space and rejects malformed MACs', () => {
    const { driver } = rig();
    const bytes = new Uint8Array(6);
    for (let i = 0; i < 6; i++) {
      const data = new Uint8Array(1);
      driver.transport.read(0x100 + i, data);
      bytes[i] = data[0] as number;
    }
    assert.deepEqual(Array.from(bytes), [0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc]);
    assert.throws(() => parseMac('01:00:5e:00:00:01'), ConfigError);
    assert.throws(() => parseMac('nonsense'), ConfigError);
  });

  it('transmits an ARP request and receives the namespace kernel\'s reply', async function () {
    this.timeout(20_000);
    const { mac, backend, counters, tx, postRxBuffers, received } = rig();
    postRxBuffers(8);
    const frame = Buffer.concat([Buffer.alloc(NET_HEADER_SIZE), arpRequest(mac)]);
    memory.writeBytes(TX_BUFFER, frame);
    tx.makeAvailable(tx.writeChain(0, [{ address: TX_BUFFER, length: frame.length, writable: false }]));
    backend.notify(TX_QUEUE);
    assert.equal(tx.usedIndex(), 1, 'tx buffer returned');
    const isReply = (f: Buffer): boolean => f.readUInt16BE(NET_HEADER_SIZE + 12) === ETHERTYPE_ARP && f.readUInt16BE(NET_HEADER_SIZE + 20) === 2 && f.subarray(NET_HEADER_SIZE, NET_HEADER_SIZE + 6).equals(Buffer.from(mac));
    assert.ok(await until(() => received().some(isReply), 5000), `an ARP reply arrives (got ${received().length} frames)`);
    const reply = received().find(isReply) as Buffer;
    assert.equal(reply.readUInt16LE(10), 1, 'virtio_net_hdr.num_buffers = 1');
    assert.deepEqual(Array.from(reply.subarray(NET_HEADER_SIZE + 28, NET_HEADER_SIZE + 32)), HOST_IP, 'from the namespace address');
    assert.equal(counters.get('txFrames'), 1);
  });

  it('holds frames in the TAP queue while the guest has no receive buffers, then delivers them', async function () {
    this.timeout(20_000);
    const { counters, postRxBuffers, received } = rig();
    // A UDP datagram to the guest address makes the namespace kernel send ARP requests onto the TAP.
    const sender = `require('dgram').createSocket('udp4').send('x', 9, '${GUEST_IP.join('.')}', (e, n) => setTimeout(() => process.exit(e ? 1 : 0), 1500))`;
    const send = spawn('ip', ['netns', 'exec', (namespace as NetNamespace).name, process.execPath, '-e', sender], { stdio: 'ignore' });
    assert.equal(await new Promise((resolve) => send.on('exit', resolve)), 0, 'the datagram was sent');
    assert.equal(received().length, 0, 'nothing received without buffers');
    assert.ok(counters.get('rxWaitsForBuffers') >= 1, 'the back end stopped reading the TAP');
    postRxBuffers(8);
    const isArp = (f: Buffer): boolean => f.readUInt16BE(NET_HEADER_SIZE + 12) === ETHERTYPE_ARP;
    assert.ok(await until(() => received().some(isArp), 5000), `the waiting ARP requests arrive once buffers are posted (ethertypes: ${received().map((f) => f.readUInt16BE(NET_HEADER_SIZE + 12).toString(16)).join(', ')})`);
  });
});
