// virtio-vsock's host side against a simulated guest driver (rings in guest memory, packets built
// by the test): host -> guest connections through `CONNECT <port>`, guest -> host connections to
// `<path>_<port>`, echo of payloads much larger than the queues, with credit flow control on both
// sides.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { DeviceStatus, VirtioFeature } from '../../lib/devices/virtio/transport/mmio-registers';
import { createVirtioMmioState } from '../../lib/devices/virtio/transport/mmio-state';
import { VirtioMmioTransport } from '../../lib/devices/virtio/transport/mmio-transport';
import { DeviceCounters } from '../../lib/devices/counters';
import { VirtioVsockBackend, VSOCK_COUNTERS, VSOCK_EVENT_QUEUE, VSOCK_RX_QUEUE, VSOCK_TX_QUEUE } from '../../lib/devices/virtio/vsock/backend';
import { vsockDescription as vsockDevice } from '../../lib/devices/virtio/vsock/device';
import { decodeVsockHeader, encodeVsockHeader, VSOCK_HEADER_SIZE, VSOCK_HOST_CID, VsockHeader, VsockOp } from '../../lib/devices/virtio/vsock/packet';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { MmioDriver } from '../helpers/mmio-driver';
import { TestDriver } from '../helpers/virtqueue-driver';
import { makeSocketDir } from '../helpers/socket-dir';

const GUEST_CID = 3n;
const RAM = 4 * 1024 * 1024;
const RINGS = [0x10000, 0x20000, 0x30000];
const RX_BUFFERS = 0x100000;
const TX_BUFFERS = 0x200000;
const SLOTS = 16;
const BUFFER = 4096;
const GUEST_BUF_ALLOC = 64 * 1024;

/** The guest end: posts receive buffers, sends packets, and parses what the device returned. */
class GuestSide {
  readonly rx: TestDriver;
  readonly tx: TestDriver;
  #seen = 0;
  #txSlot = 0;
  #txFree = SLOTS;
  #txUsedSeen = 0;
  sentToHost = 0;
  hostBufAlloc = 0;
  hostFwdCnt = 0;
  consumed = 0;

  constructor(readonly memory: GuestMemory, readonly backend: VirtioVsockBackend) {
    this.rx = new TestDriver(memory, RINGS[0] as number, SLOTS);
    this.tx = new TestDriver(memory, RINGS[1] as number, SLOTS);
    for (let i = 0; i < SLOTS; i++) this.rx.makeAvailable(this.rx.writeChain(i, [{ address: RX_BUFFERS + i * BUFFER, length: BUFFER, writable: true }]));
  }

  header(op: number, srcPort: number, dstPort: number, extra: Partial<VsockHeader> = {}): VsockHeader {
    return { srcCid: GUEST_CID, dstCid: VSOCK_HOST_CID, srcPort, dstPort, len: 0, type: 1, op, flags: 0, bufAlloc: GUEST_BUF_ALLOC, fwdCnt: this.consumed, ...extra };
  }

  /** Room the host side has for our payload. */
  hostCredit(): number {
    return this.hostBufAlloc - (this.sentToHost - this.hostFwdCnt);
  }

  send(header: VsockHeader, payload: Buffer = Buffer.alloc(0)): boolean {
    while (this.#txUsedSeen !== this.tx.usedIndex()) {
      this.#txUsedSeen = (this.#txUsedSeen + 1) & 0xffff;
      this.#txFree++;
    }
    if (this.#txFree === 0) return false;
    const packet = Buffer.concat([encodeVsockHeader({ ...header, len: payload.length }), payload]);
    const slot = this.#txSlot++ % SLOTS;
    this.memory.writeBytes(TX_BUFFERS + slot * BUFFER, packet);
    this.tx.makeAvailable(this.tx.writeChain(slot, [{ address: TX_BUFFERS + slot * BUFFER, length: packet.length, writable: false }]));
    this.#txFree--;
    if (header.op === VsockOp.RW) this.sentToHost += payload.length;
    this.backend.notify(VSOCK_TX_QUEUE);
    return true;
  }

  /** Packets the device delivered since the last call; their buffers go back to the device. */
  receive(): { header: VsockHeader; payload: Buffer }[] {
    const packets: { header: VsockHeader; payload: Buffer }[] = [];
    while (this.#seen !== this.rx.usedIndex()) {
      const { id, len } = this.rx.usedEntry(this.#seen);
      this.#seen = (this.#seen + 1) & 0xffff;
      const bytes = Buffer.from(this.memory.readBytes(RX_BUFFERS + id * BUFFER, len));
      const header = decodeVsockHeader(bytes);
      this.hostBufAlloc = header.bufAlloc;
      this.hostFwdCnt = header.fwdCnt;
      packets.push({ header, payload: bytes.subarray(VSOCK_HEADER_SIZE, VSOCK_HEADER_SIZE + header.len) });
      this.rx.makeAvailable(id);
    }
    if (packets.length > 0) this.backend.notify(VSOCK_RX_QUEUE);
    return packets;
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('virtio-vsock host side (hybrid Unix sockets)', function () {
  this.timeout(30_000);
  let memory: GuestMemory;
  let dir: string;
  let socketPath: string;
  let backend: VirtioVsockBackend;
  let guest: GuestSide;
  let counters: DeviceCounters<(typeof VSOCK_COUNTERS)[number]>;
  const closers: (() => void)[] = [];

  beforeEach(async () => {
    memory = GuestMemory.allocate(ramLayout(RAM));
    // Unix sockets need a local filesystem: /dev/shm is tmpfs (inside .ci/kvm-vm, /tmp is 9p and has none).
    dir = makeSocketDir('vsock-');
    socketPath = path.join(dir, 'v.sock');
    const transport = new VirtioMmioTransport(createVirtioMmioState(vsockDevice(GUEST_CID)));
    counters = new DeviceCounters(VSOCK_COUNTERS);
    backend = new VirtioVsockBackend({ transport, memory, signal: () => {}, counters }, { guestCid: GUEST_CID, socketPath });
    const driver = new MmioDriver(transport);
    assert.notEqual(driver.negotiate(1n << VirtioFeature.VERSION_1) & DeviceStatus.FEATURES_OK, 0);
    guest = new GuestSide(memory, backend);
    driver.setupQueue(VSOCK_RX_QUEUE, guest.rx.config);
    driver.setupQueue(VSOCK_TX_QUEUE, guest.tx.config);
    driver.setupQueue(VSOCK_EVENT_QUEUE, new TestDriver(memory, RINGS[2] as number, SLOTS).config);
    driver.driverOk();
    backend.activate();
    backend.notify(VSOCK_RX_QUEUE);
    await backend.ready();
  });
  afterEach(async () => {
    for (const close of closers.splice(0)) close();
    await backend.quiesce();
    memory.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the guest's echo service: accepts on `port`, echoes RW payloads within the host's credit. */
  async function guestEcho(port: number, until: () => boolean): Promise<void> {
    const backlog: Buffer[] = [];
    let peer: number | undefined;
    while (!until()) {
      for (const { header, payload } of guest.receive()) {
        if (header.op === VsockOp.REQUEST && header.dstPort === port) {
          peer = header.srcPort;
          guest.send(guest.header(VsockOp.RESPONSE, port, peer));
        } else if (header.op === VsockOp.RW) {
          guest.consumed += payload.length;
          backlog.push(payload);
        }
      }
      while (peer !== undefined && backlog.length > 0 && guest.hostCredit() > 0) {
        const next = backlog[0] as Buffer;
        const part = next.subarray(0, Math.min(next.length, guest.hostCredit(), BUFFER - VSOCK_HEADER_SIZE));
        if (!guest.send(guest.header(VsockOp.RW, port, peer), part)) break;
        if (part.length === next.length) backlog.shift();
        else backlog[0] = next.subarray(part.length);
      }
      if (peer !== undefined) guest.send(guest.header(VsockOp.CREDIT_UPDATE, port, peer));
      await tick();
    }
  }

  it('host -> guest: CONNECT, OK, and an echo of 300 KiB through 16 x 4 KiB queues with credit on both sides', async () => {
    const payload = randomBytes(300 * 1024);
    const host = net.connect(socketPath);
    closers.push(() => host.destroy());
    let received: Buffer = Buffer.alloc(0);
    let okLine = '';
    host.on('data', (chunk: Buffer) => {
      if (!okLine.endsWith('\n')) {
        const text = okLine + chunk.toString('latin1');
        const newline = text.indexOf('\n');
        if (newline < 0) {
          okLine = text;
          return;
        }
        okLine = text.slice(0, newline + 1);
        chunk = Buffer.from(text.slice(newline + 1), 'latin1');
        host.write(payload);
      }
      received = Buffer.concat([received, chunk]);
    });
    host.on('connect', () => host.write('CONNECT 1234\n'));
    await guestEcho(1234, () => received.length >= payload.length);
    assert.match(okLine, /^OK \d+\n$/);
    assert.ok(received.equals(payload), 'the echo matches byte for byte');
    assert.ok(counters.get('toGuestBytes') >= payload.length && counters.get('fromGuestBytes') >= payload.length);
  });

  it('guest -> host: connects to <path>_<port>, exchanges data both ways, then shuts down', async () => {
    const server = net.createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => server.listen(`${socketPath}_5000`, resolve));
    closers.push(() => server.close());
    guest.send(guest.header(VsockOp.REQUEST, 7777, 5000));
    const message = Buffer.from('hello from the guest '.repeat(500));
    let echoed: Buffer = Buffer.alloc(0);
    let responded = false;
    let reset = false;
    for (let i = 0; i < 10_000 && !(reset && echoed.length >= message.length); i++) {
      for (const { header, payload } of guest.receive()) {
        if (header.op === VsockOp.RESPONSE) {
          responded = true;
          for (let at = 0; at < message.length; at += 2048) guest.send(guest.header(VsockOp.RW, 7777, 5000), message.subarray(at, at + 2048));
        }
        if (header.op === VsockOp.RW) {
          echoed = Buffer.concat([echoed, payload]);
          guest.consumed += payload.length;
          if (echoed.length >= message.length) guest.send(guest.header(VsockOp.SHUTDOWN, 7777, 5000, { flags: 3 }));
        }
        if (header.op === VsockOp.RST) reset = true;
      }
      await tick();
    }
    assert.ok(responded, 'RESPONSE from the host side');
    assert.ok(echoed.equals(message), 'echoed through the host listener');
    assert.ok(reset, 'RST after SHUTDOWN');
  });

  it('refuses a connection to a host port nobody listens on with RST', async () => {
    guest.send(guest.header(VsockOp.REQUEST, 7778, 6000));
    let reset = false;
    for (let i = 0; i < 2000 && !reset; i++) {
      reset = guest.receive().some((p) => p.header.op === VsockOp.RST && p.header.dstPort === 7778);
      await tick();
    }
    assert.ok(reset);
  });
});
