// Hostile drivers against the real devices, their back ends on an I/O thread as in production: the
// test writes the rings as the fuzz tests do and signals the eventfds KVM would. A vsock driver that
// ignores the credit it was given, opens thousands of connections, never reads its receive queue, or
// is flooded from the host; an rng driver that offers one enormous chain. Each bound the device states
// (README: Bounds) holds throughout, and this (the embedding app's) event loop keeps ticking.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { DeviceCounters } from '../../lib/devices/counters';
import { RNG_BYTES_PER_TURN } from '../../lib/devices/virtio/rng/backend';
import { VirtioRngDevice } from '../../lib/devices/virtio/rng/device';
import { DeviceStatus, VirtioFeature } from '../../lib/devices/virtio/transport/mmio-registers';
import {
  VSOCK_BUF_ALLOC,
  VSOCK_CONTROL_BACKLOG,
  type VSOCK_COUNTERS,
  VSOCK_HOST_PENDING_MAX,
  VSOCK_MAX_CONNECTIONS,
  VSOCK_RX_QUEUE,
  VSOCK_TX_QUEUE,
} from '../../lib/devices/virtio/vsock/backend';
import { VirtioVsockDevice } from '../../lib/devices/virtio/vsock/device';
import { encodeVsockHeader, VSOCK_HEADER_SIZE, VSOCK_HOST_CID, VsockOp } from '../../lib/devices/virtio/vsock/packet';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { hostDevice, type HostedDevice } from '../helpers/hosted-device';
import { makeSocketDir } from '../helpers/socket-dir';
import { MIN_TICK_WINDOW_MS, TickMeter, tickRatio, ticksAgainstBaseline } from '../helpers/ticks';
import { TestDriver } from '../helpers/virtqueue-driver';

const MiB = 1024 * 1024;
const GUEST_CID = 3n;
const QUEUE = 256;
const RINGS = [0x10000, 0x20000, 0x30000];
const RX_BUFFERS = 0x100000;
const TX_BUFFERS = 0x300000;
const SLOT_BYTES = 4096;
const MIN_TICK_RATIO = 0.9;


/** A vsock driver that does what it likes: it sends any packet and reads its receive queue only when told. */
class HostileVsock {
  readonly rx: TestDriver;
  readonly tx: TestDriver;
  #txSlot = 0;
  #rxSeen = 0;

  constructor(readonly memory: GuestMemory, readonly hosted: HostedDevice) {
    this.rx = new TestDriver(memory, RINGS[0] as number, QUEUE);
    this.tx = new TestDriver(memory, RINGS[1] as number, QUEUE);
  }

  /** Puts one packet on the transmit queue (a ring slot reused once the device returned it). */
  send(op: number, srcPort: number, dstPort: number, payload: Buffer = Buffer.alloc(0), fwdCnt = 0, notify = true): boolean {
    if (((this.#txSlot - this.tx.usedIndex()) & 0xffff) >= QUEUE) return false;
    const slot = this.#txSlot % QUEUE;
    this.#txSlot++;
    const header = { srcCid: GUEST_CID, dstCid: VSOCK_HOST_CID, srcPort, dstPort, len: payload.length, type: 1, op, flags: 0, bufAlloc: 64 * 1024, fwdCnt };
    const packet = Buffer.concat([encodeVsockHeader(header), payload]);
    this.memory.writeBytes(TX_BUFFERS + slot * SLOT_BYTES, packet.subarray(0, SLOT_BYTES));
    this.tx.makeAvailable(this.tx.writeChain(slot, [{ address: TX_BUFFERS + slot * SLOT_BYTES, length: Math.min(packet.length, SLOT_BYTES), writable: false }]));
    if (notify) this.notifyTx();
    return true;
  }

  notifyTx(): void {
    this.hosted.notify(VSOCK_TX_QUEUE);
  }

  /** Posts every receive buffer (and then reads nothing, unless drain() is called). */
  postReceiveBuffers(): void {
    for (let i = 0; i < QUEUE; i++) this.rx.makeAvailable(this.rx.writeChain(i, [{ address: RX_BUFFERS + i * SLOT_BYTES, length: SLOT_BYTES, writable: true }]));
    this.hosted.notify(VSOCK_RX_QUEUE);
  }

  /** Takes what the device delivered and gives the buffers back; returns the ops seen. */
  drain(): number[] {
    const ops: number[] = [];
    while (this.#rxSeen !== this.rx.usedIndex()) {
      const { id } = this.rx.usedEntry(this.#rxSeen);
      this.#rxSeen = (this.#rxSeen + 1) & 0xffff;
      ops.push(this.memory.readU16(RX_BUFFERS + id * SLOT_BYTES + 30));
      this.rx.makeAvailable(id);
    }
    this.hosted.notify(VSOCK_RX_QUEUE);
    return ops;
  }
}

type VsockCounters = DeviceCounters<(typeof VSOCK_COUNTERS)[number]>;

/** A real vsock device on an I/O thread, negotiated and live, with its hostile driver. */
async function vsockRig(memory: GuestMemory, socketPath: string): Promise<{ device: VirtioVsockDevice; driver: HostileVsock; counters: VsockCounters; hosted: HostedDevice }> {
  const device = new VirtioVsockDevice({ cid: Number(GUEST_CID), socketPath });
  const hosted = await hostDevice(device, memory);
  assert.notEqual(hosted.driver.negotiate(1n << VirtioFeature.VERSION_1) & DeviceStatus.FEATURES_OK, 0);
  const driver = new HostileVsock(memory, hosted);
  hosted.driver.setupQueue(VSOCK_RX_QUEUE, driver.rx.config);
  hosted.driver.setupQueue(VSOCK_TX_QUEUE, driver.tx.config);
  hosted.driver.driverOk();
  hosted.statusChanged();
  return { device, driver, counters: device.counters as VsockCounters, hosted };
}

/** Waits (without blocking the loop) until `condition` holds, or `ms` pass; `condition` runs once per poll. */
async function until(condition: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (condition()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('hostile drivers against the bounds of vsock and rng (back ends on an I/O thread)', function () {
  this.timeout(120_000);
  let memory: GuestMemory;
  let dir: string;
  const closers: (() => unknown)[] = [];

  beforeEach(() => {
    memory = GuestMemory.allocate(ramLayout(8 * MiB));
    dir = makeSocketDir('hostile-');
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    memory.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A host listener on another thread (so this loop carries only the test): `hold` keeps sockets unread. */
  async function listener(socketPath: string, hold: boolean): Promise<void> {
    const worker = new Worker(
      `const net = require('node:net'); const { parentPort, workerData } = require('node:worker_threads');
       const held = []; net.createServer((s) => { if (workerData.hold) s.pause(); held.push(s); })
         .listen({ path: workerData.path, backlog: 4096 }, () => parentPort.postMessage('listening'));`,
      { eval: true, workerData: { path: socketPath, hold } },
    );
    closers.push(() => worker.terminate());
    await new Promise((resolve) => worker.once('message', resolve));
  }

  /** One guest that ignores its credit: the bounds are checked here, the event loop's ticks returned for the caller to judge. */
  async function creditRound(round: number, ram: GuestMemory): Promise<{ relative: number; line: string }> {
    const socketPath = path.join(dir, `v${round}.sock`);
    await listener(`${socketPath}_7000`, true); // accepts and never reads: what the guest sends piles up host-side
    const { driver, counters, hosted } = await vsockRig(ram, socketPath);
    closers.push(() => hosted.stop());
    driver.postReceiveBuffers();
    driver.send(VsockOp.REQUEST, 4000, 7000);
    const seenOps: number[] = [];
    assert.ok(await until(() => { const ops = driver.drain(); seenOps.push(...ops); return ops.includes(VsockOp.RESPONSE); }), `the connection is made (ops ${seenOps.join(',')}; counters ${JSON.stringify(counters.read())})`);
    const chunk = Buffer.alloc(SLOT_BYTES - VSOCK_HEADER_SIZE, 0x42);
    let sent = 0;
    let packets = 0;
    // The driver's own work (a ring of 4 KiB packets written on this loop, slower still under ASan,
    // whose allocator serves all of node) stays outside the measured windows: they hold only the
    // device's work on its I/O thread, judged against a busy-sibling baseline.
    const { baseline } = await ticksAgainstBaseline(async () => undefined);
    const meter = new TickMeter();
    // 16 MiB offered against a 256 KiB window, never waiting for credit.
    while (sent < 16 * MiB && counters.get('creditViolations') === 0) {
      while (driver.send(VsockOp.RW, 4000, 7000, chunk, 0, false)) {
        sent += chunk.length;
        packets++;
      }
      driver.notifyTx();
      meter.start();
      const served = await until(() => {
        driver.drain();
        return counters.get('creditViolations') > 0 || driver.tx.usedIndex() === (packets & 0xffff);
      }, 20_000);
      meter.stop();
      assert.ok(served, `the device serves its transmit queue (counters ${JSON.stringify(counters.read())})`);
    }
    meter.start();
    const gone = await until(() => counters.get('openConnections') === 0);
    const tail = MIN_TICK_WINDOW_MS - meter.measuredMs();
    if (tail > 0) await new Promise((resolve) => setTimeout(resolve, tail));
    const busy = meter.close();
    assert.ok(gone, 'the connection is gone');
    assert.ok(counters.get('creditViolations') >= 1, 'the credit violation was noticed');
    assert.ok(counters.get('unforwardedPeak') <= VSOCK_BUF_ALLOC, `unforwarded bytes peaked at ${counters.get('unforwardedPeak')} (window ${VSOCK_BUF_ALLOC})`);
    const ticks = { busy, baseline, relative: tickRatio(busy) / Math.max(tickRatio(baseline), 1e-3) };
    return { relative: ticks.relative, line: `event loop: ${ticks.busy.ticks}/${ticks.busy.expected} ticks while the device worked, ${ticks.baseline.ticks}/${ticks.baseline.expected} with a busy sibling thread` };
  }

  it('vsock: a guest that ignores its credit is reset, and what it made the host hold stays within the window', async function () {
    this.timeout(120_000);
    // One slow round on a loaded machine is judged with a second; the bounds hold in both.
    const rounds = [await creditRound(1, memory)];
    if ((rounds[0] as { relative: number }).relative < MIN_TICK_RATIO) {
      // A second guest of its own: the first device still serves its rings in the first memory.
      const second = GuestMemory.allocate(ramLayout(8 * MiB));
      closers.push(() => second.dispose());
      rounds.push(await creditRound(2, second));
    }
    console.log(`      ${rounds.map((r) => r.line).join('\n      ')}`);
    const best = Math.max(...rounds.map((r) => r.relative));
    assert.ok(best >= MIN_TICK_RATIO, `the event loop lost ticks: ${rounds.map((r) => r.line).join('; ')}`);
  });

  it(`vsock: thousands of connection requests never hold more than ${VSOCK_MAX_CONNECTIONS} connections`, async function () {
    this.timeout(300_000); // two rounds of 3000 host connects on a machine that may be very loaded
    // The bounds must hold every round; the event loop is judged on the better of two (shared machines).
    const rounds: string[] = [];
    let best = 0;
    for (let round = 0; round < 2 && best < MIN_TICK_RATIO; round++) {
      const socketPath = path.join(dir, `v${round}.sock`);
      await listener(`${socketPath}_7001`, false);
      const { driver, counters, hosted } = await vsockRig(memory, socketPath);
      closers.push(() => hosted.stop());
      driver.postReceiveBuffers();
      const REQUESTS = 3000;
      let requested = 0;
      // The driver's own work (writing a ring of requests) runs on this loop too; the ticks that count
      // are those while only the device works, on its I/O thread, against a busy-sibling baseline.
      const baseline = await ticksAgainstBaseline(async () => undefined);
      const meter = new TickMeter();
      while (requested < REQUESTS) {
        while (requested < REQUESTS && driver.send(VsockOp.REQUEST, 10_000 + requested, 7001, Buffer.alloc(0), 0, false)) requested++;
        driver.notifyTx();
        meter.start();
        // Reading the receive queue meanwhile: the device holds back its transmit queue while replies
        // wait for receive buffers (its bound), so a driver that stopped reading would wait forever.
        await until(() => {
          driver.drain();
          return driver.tx.usedIndex() === (requested & 0xffff);
        }, 10_000);
        meter.stop();
      }
      await until(() => {
        driver.drain();
        return counters.get('refusedConnections') + counters.get('openConnections') + counters.get('resets') >= REQUESTS;
      }, 20_000);
      const busy = meter.close();
      await hosted.stop();
      const refused = counters.get('refusedConnections');
      const peak = counters.get('openConnectionsPeak');
      assert.ok(peak <= VSOCK_MAX_CONNECTIONS, `connections peaked at ${peak}`);
      assert.equal(peak, VSOCK_MAX_CONNECTIONS, 'the requests reached the limit');
      assert.ok(refused > 0, 'requests beyond the limit were refused');
      const relative = tickRatio(busy) / Math.max(tickRatio(baseline.baseline), 1e-3);
      best = Math.max(best, relative);
      rounds.push(`${requested} requests: at most ${peak} connections at once, ${refused} refused; event loop ${busy.ticks}/${busy.expected} ticks while the device worked, ${baseline.baseline.ticks}/${baseline.baseline.expected} with a busy sibling thread`);
    }
    console.log(`      ${rounds.join('\n      ')}`);
    assert.ok(best >= MIN_TICK_RATIO, `the event loop lost ticks: ${rounds.join('; ')}`);
  });

  it('vsock: a guest that never reads its receive queue stalls its own sends; the replies waiting stay bounded', async () => {
    const socketPath = path.join(dir, 'v.sock');
    const { device, driver, counters, hosted } = await vsockRig(memory, socketPath);
    closers.push(() => hosted.stop());
    // No receive buffers at all, and a stream of packets that each want a reply (RST for unknown ports).
    let offered = 0;
    for (let round = 0; round < 40; round++) {
      while (driver.send(VsockOp.RW, 20_000 + offered, 9999, Buffer.from('x'))) offered++;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    assert.ok(await until(() => counters.get('controlBacklogPeak') === VSOCK_CONTROL_BACKLOG), `the backlog filled (${counters.get('controlBacklogPeak')})`);
    assert.ok(offered <= VSOCK_CONTROL_BACKLOG + QUEUE, `the guest could queue only ${offered} packets: its sends wait in its ring`);
    assert.equal(device.transport.status & DeviceStatus.DEVICE_NEEDS_RESET, 0, 'not the device failing: back-pressure');
    // Once it reads, the replies flow and its sends move again.
    driver.postReceiveBuffers();
    let rsts = 0;
    assert.ok(
      await until(() => {
        rsts += driver.drain().filter((op) => op === VsockOp.RST).length;
        return rsts >= VSOCK_CONTROL_BACKLOG;
      }),
      `the waiting replies arrived (${rsts} RSTs)`,
    );
    assert.ok(await until(() => driver.send(VsockOp.RW, 30_000, 9999, Buffer.from('y'))), 'the transmit ring moves again');
  });

  it('vsock: a host program that floods one connection is paused: the host side holds at most one window', async () => {
    const socketPath = path.join(dir, 'v.sock');
    const { driver, counters, hosted } = await vsockRig(memory, socketPath);
    closers.push(() => hosted.stop());
    driver.postReceiveBuffers();
    const host = net.connect(socketPath);
    closers.push(() => host.destroy());
    await new Promise((resolve) => host.once('connect', resolve));
    host.write('CONNECT 5555\n');
    let hostPort: number | undefined;
    await until(() => {
      for (let slot = 0; slot < QUEUE; slot++) {
        const at = RX_BUFFERS + slot * SLOT_BYTES;
        if (memory.readU16(at + 30) === VsockOp.REQUEST) hostPort = memory.readU32(at + 16);
      }
      return hostPort !== undefined;
    });
    assert.ok(hostPort !== undefined, 'the device asked the guest to accept');
    // The guest accepts but gives no credit (buf_alloc 0), so nothing may flow to it.
    const accept = { srcCid: GUEST_CID, dstCid: VSOCK_HOST_CID, srcPort: 5555, dstPort: hostPort, len: 0, type: 1, op: VsockOp.RESPONSE, flags: 0, bufAlloc: 0, fwdCnt: 0 };
    memory.writeBytes(TX_BUFFERS, encodeVsockHeader(accept));
    driver.tx.makeAvailable(driver.tx.writeChain(0, [{ address: TX_BUFFERS, length: VSOCK_HEADER_SIZE, writable: false }]));
    hosted.notify(VSOCK_TX_QUEUE);
    const flood = Buffer.alloc(1 * MiB, 0x17);
    for (let i = 0; i < 16; i++) {
      host.write(flood);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const peak = counters.get('hostPendingPeak');
    assert.ok(peak >= VSOCK_HOST_PENDING_MAX / 2, `the host data was read up to the bound (${peak})`);
    assert.ok(peak <= VSOCK_BUF_ALLOC, `held for the guest: at most ${VSOCK_BUF_ALLOC}, was ${peak}`);
  });

  it(`rng: one enormous chain gets ${RNG_BYTES_PER_TURN} bytes, and a queue of big chains never blocks the event loop`, async () => {
    memory.dispose();
    memory = GuestMemory.allocate(ramLayout(1024 * MiB)); // untouched beyond what the device fills
    const device = new VirtioRngDevice();
    const hosted = await hostDevice(device, memory);
    closers.push(() => hosted.stop());
    hosted.driver.negotiate(1n << VirtioFeature.VERSION_1);
    const queue = new TestDriver(memory, 0x10000, QUEUE);
    hosted.driver.setupQueue(0, queue.config);
    hosted.driver.driverOk();
    hosted.statusChanged();
    // One chain of 768 MiB: the device answers with one turn's worth.
    queue.makeAvailable(queue.writeChain(0, [{ address: 16 * MiB, length: 768 * MiB, writable: true }]));
    hosted.notify(0);
    assert.ok(await until(() => queue.usedIndex() === 1), 'the chain came back');
    assert.equal(queue.usedEntry(0).len, RNG_BYTES_PER_TURN);
    // Then 255 chains of 2 MiB each: served a turn's worth at a time while this event loop ticks.
    for (let i = 1; i < QUEUE; i++) queue.makeAvailable(queue.writeChain(i, [{ address: 16 * MiB + i * 2 * MiB, length: 2 * MiB, writable: true }]));
    const ticks = await ticksAgainstBaseline(async () => {
      hosted.notify(0);
      await until(() => queue.usedIndex() === QUEUE, 20_000);
    });
    assert.equal(queue.usedIndex(), QUEUE);
    for (let i = 0; i < QUEUE; i++) assert.ok(queue.usedEntry(i).len <= RNG_BYTES_PER_TURN);
    assert.equal(device.counters?.get('bytes'), QUEUE * RNG_BYTES_PER_TURN, 'each chain got at most a turn');
    assert.ok(hosted.interrupts() >= 1, 'the driver was interrupted');
    console.log(`      event loop: ${ticks.busy.ticks}/${ticks.busy.expected} ticks while the device worked, ${ticks.baseline.ticks}/${ticks.baseline.expected} with a busy sibling thread`);
    assert.ok(ticks.relative >= MIN_TICK_RATIO, `event loop ticks ${ticks.busy.ticks}/${ticks.busy.expected} against ${ticks.baseline.ticks}/${ticks.baseline.expected} idle`);
  });
});
