// The virtio-vsock device without its back end running: the 44-byte packet header's layout (virtio 1.2,
// 5.10.6), the device description and config space (5.10.4), the socket path check made before a VM
// exists, and the claim a device holds on its path.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { ClaimError } from '../../lib/devices/claims';
import { VIRTIO_MMIO_CONFIG, VirtioDeviceId } from '../../lib/devices/virtio/transport/mmio-registers';
import { VSOCK_COUNTERS, VSOCK_EVENT_QUEUE_SIZE, VSOCK_QUEUE_SIZE } from '../../lib/devices/virtio/vsock/backend';
import { claimSocketPath, MAX_GUEST_CID, MIN_GUEST_CID, VirtioVsockDevice, vsockDescription } from '../../lib/devices/virtio/vsock/device';
import { decodeVsockHeader, encodeVsockHeader, VSOCK_HEADER_SIZE, type VsockHeader } from '../../lib/devices/virtio/vsock/packet';
import { ConfigError } from '../../lib/kvm/errors';
import { MmioDriver } from '../helpers/mmio-driver';
import { makeSocketDir } from '../helpers/socket-dir';

const SAMPLE: VsockHeader = {
  srcCid: 0x1122334455667788n,
  dstCid: 0x99aabbccddeeff01n,
  srcPort: 0x01020304,
  dstPort: 0x05060708,
  len: 0x090a0b0c,
  type: 0x0d0e,
  op: 0x0f10,
  flags: 0x11121314,
  bufAlloc: 0x15161718,
  fwdCnt: 0x191a1b1c,
};

describe('virtio-vsock packet header (5.10.6)', () => {
  it('5.10.6: encodes the 44-byte little-endian header field by field at the spec\'s offsets', () => {
    const bytes = encodeVsockHeader(SAMPLE);
    assert.equal(bytes.length, VSOCK_HEADER_SIZE);
    assert.equal(VSOCK_HEADER_SIZE, 44);
    assert.equal(
      bytes.toString('hex'),
      [
        '8877665544332211', // src_cid
        '01ffeeddccbbaa99', // dst_cid
        '04030201', // src_port
        '08070605', // dst_port
        '0c0b0a09', // len
        '0e0d', // type
        '100f', // op
        '14131211', // flags
        '18171615', // buf_alloc
        '1c1b1a19', // fwd_cnt
      ].join(''),
    );
  });

  it('5.10.6: decodes what it encodes', () => {
    assert.deepEqual(decodeVsockHeader(encodeVsockHeader(SAMPLE)), SAMPLE);
  });

  it('5.10.6.3: 32-bit fields are taken mod 2^32 (fwd_cnt and friends are free-running counters)', () => {
    const wrapped = encodeVsockHeader({ ...SAMPLE, srcPort: 2 ** 32 + 1, dstPort: -1, len: 2 ** 32 + 3, flags: 2 ** 32 + 4, bufAlloc: 2 ** 32 + 5, fwdCnt: 2 ** 33 + 6 });
    const h = decodeVsockHeader(wrapped);
    assert.deepEqual([h.srcPort, h.dstPort, h.len, h.flags, h.bufAlloc, h.fwdCnt], [1, 0xffffffff, 3, 4, 5, 6]);
  });
});

describe('virtio-vsock device description and config (5.10.4)', () => {
  it('5.10.4: device id 19, no feature bits, queues rx/tx of 256 and an event queue of 64', () => {
    const d = vsockDescription(3n);
    assert.equal(d.deviceId, VirtioDeviceId.VSOCK);
    assert.equal(VirtioDeviceId.VSOCK, 19);
    assert.equal(d.features, 0n);
    assert.deepEqual(d.queueSizes, [VSOCK_QUEUE_SIZE, VSOCK_QUEUE_SIZE, VSOCK_EVENT_QUEUE_SIZE]);
    assert.deepEqual([VSOCK_QUEUE_SIZE, VSOCK_EVENT_QUEUE_SIZE], [256, 64]);
  });

  it('5.10.4: config space is guest_cid as a little-endian u64', () => {
    assert.equal(Buffer.from(vsockDescription(0x12345678n).config ?? []).toString('hex'), '7856341200000000');
    assert.equal(Buffer.from(vsockDescription(MAX_GUEST_CID).config ?? []).toString('hex'), 'ffffffff00000000');
  });

  it('5.10.4: guest CIDs 0-2 are reserved and CIDs above 32 bits are refused', () => {
    assert.equal(MIN_GUEST_CID, 3n);
    assert.equal(MAX_GUEST_CID, 0xffffffffn);
    for (const cid of [0n, 1n, 2n, 0x100000000n]) assert.throws(() => vsockDescription(cid), (e: unknown) => e instanceof ConfigError && e.message.includes(String(cid)), `CID ${cid}`);
    for (const cid of [3n, 0xffffffffn]) assert.doesNotThrow(() => vsockDescription(cid));
  });
});

describe('virtio-vsock socket path checks and claims', function () {
  this.timeout(20_000);
  let dir: string;
  const cleanups: (() => void | Promise<void>)[] = [];

  beforeEach(() => {
    dir = makeSocketDir('vsock-claim-');
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function listenAt(socketPath: string): Promise<net.Server> {
    const server = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return server;
  }

  /** A path of exactly `bytes` bytes inside the test directory. */
  function pathOf(bytes: number, fill = 'p'): string {
    const prefix = `${dir}/`;
    return prefix + fill.repeat(bytes - Buffer.byteLength(prefix));
  }

  it('a free path passes and nothing is created', async () => {
    const socketPath = path.join(dir, 'free.sock');
    await claimSocketPath(socketPath);
    assert.equal(fs.existsSync(socketPath), false);
  });

  it('a path longer than sun_path allows (107 bytes) is refused; 107 bytes pass', async () => {
    await claimSocketPath(pathOf(107));
    await assert.rejects(claimSocketPath(pathOf(108)), (e: unknown) => e instanceof ConfigError && /longer than 107 bytes/.test(e.message));
  });

  it('the length is counted in bytes, not characters', async () => {
    // 'é' is two bytes in UTF-8: 54 of them make 108 bytes from 54 + the prefix characters.
    const prefix = `${dir}/`;
    const twoByte = prefix + 'é'.repeat(Math.ceil((108 - Buffer.byteLength(prefix)) / 2));
    assert.ok(twoByte.length <= 107 && Buffer.byteLength(twoByte) > 107);
    await assert.rejects(claimSocketPath(twoByte), ConfigError);
  });

  it('a path taken by something other than a socket is refused and left alone', async () => {
    const file = path.join(dir, 'file');
    fs.writeFileSync(file, 'keep');
    await assert.rejects(claimSocketPath(file), (e: unknown) => e instanceof ConfigError && /not a socket/.test(e.message));
    assert.equal(fs.readFileSync(file, 'utf8'), 'keep');
    fs.mkdirSync(path.join(dir, 'sub'));
    await assert.rejects(claimSocketPath(path.join(dir, 'sub')), ConfigError);
  });

  it('a socket something listens on is refused and keeps working', async () => {
    const socketPath = path.join(dir, 'live.sock');
    await listenAt(socketPath);
    await assert.rejects(claimSocketPath(socketPath), (e: unknown) => e instanceof ConfigError && /in use/.test(e.message));
    assert.ok(fs.lstatSync(socketPath).isSocket());
  });

  it('a stale socket (nobody listens) is removed', async () => {
    const live = path.join(dir, 'live.sock');
    const stale = path.join(dir, 'stale.sock');
    const server = await listenAt(live);
    fs.linkSync(live, stale); // a second name for the socket, left behind once the listener closes
    await new Promise<void>((resolve) => server.close(() => resolve()));
    assert.ok(fs.lstatSync(stale).isSocket());
    await claimSocketPath(stale);
    assert.equal(fs.existsSync(stale), false);
  });

  it('VirtioVsockDevice: kind, id, CID, socket path, window, line and counters as given', () => {
    const socketPath = path.join(dir, 'dev.sock');
    const device = new VirtioVsockDevice({ id: 'mine', cid: 7, socketPath, base: 0xd000_0000, irq: 9 });
    cleanups.push(() => device.close());
    assert.equal(device.kind, 'virtio-vsock');
    assert.equal(device.idPrefix, 'vsock');
    assert.equal(device.requestedId, 'mine');
    assert.equal(device.cid, 7n);
    assert.equal(device.socketPath, socketPath);
    assert.equal(device.needs.mmioWindow?.base, 0xd000_0000);
    assert.equal(device.needs.irq?.line, 9);
    assert.deepEqual(device.counters?.names, VSOCK_COUNTERS);
    const driver = new MmioDriver(device.transport);
    assert.equal(driver.read(VIRTIO_MMIO_CONFIG), 7);
    assert.equal(driver.read(VIRTIO_MMIO_CONFIG + 4), 0);
  });

  it('VirtioVsockDevice: without id, window or line the machine picks them', () => {
    const device = new VirtioVsockDevice({ cid: 3n, socketPath: path.join(dir, 'auto.sock') });
    cleanups.push(() => device.close());
    assert.equal(device.requestedId, undefined);
    assert.equal(device.needs.mmioWindow?.base, undefined);
    assert.equal(device.needs.irq?.line, undefined);
  });

  it('VirtioVsockDevice: a second live device on the same path (however it is spelled) is refused until the first closes', () => {
    const socketPath = path.join(dir, 'shared.sock');
    const first = new VirtioVsockDevice({ cid: 3, socketPath });
    let firstOpen = true;
    cleanups.push(() => {
      if (firstOpen) first.close();
    });
    const respelled = path.join(dir, '.', 'sub', '..', 'shared.sock');
    assert.throws(() => new VirtioVsockDevice({ cid: 4, socketPath: respelled }), (e: unknown) => e instanceof ClaimError && e.kind === 'vsock socket' && e.message.includes(respelled));
    first.close();
    firstOpen = false;
    const second = new VirtioVsockDevice({ cid: 4, socketPath: respelled });
    second.close();
  });

  it('VirtioVsockDevice: a device that fails to construct (bad CID, bad window) leaves the path unclaimed', () => {
    const socketPath = path.join(dir, 'retry.sock');
    assert.throws(() => new VirtioVsockDevice({ cid: 2, socketPath }), ConfigError);
    assert.throws(() => new VirtioVsockDevice({ cid: 3, socketPath, base: 0x123 }), ConfigError);
    const device = new VirtioVsockDevice({ cid: 3, socketPath });
    device.close();
  });
});
