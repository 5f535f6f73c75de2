// virtio-net's back end over a scripted FrameDevice (no TAP): the receive header (virtio 1.2, 5.1.6),
// truncation and too-small buffers, back-pressure while the guest has no buffers, the transmit
// path, the per-turn budgets, pause/resume/reset, the counters, and host failures.
import { strict as assert } from 'node:assert';
import { DeviceCounters } from '../../lib/devices/counters';
import { NET_COUNTERS, NET_FRAMES_PER_TURN, NET_HEADER_SIZE, RX_QUEUE, TX_QUEUE, VirtioNetBackend } from '../../lib/devices/virtio/net/backend';
import { NET_QUEUE_SIZE, NetFeature, netDescription } from '../../lib/devices/virtio/net/device';
import type { FrameDevice } from '../../lib/devices/virtio/net/frames';
import { formatMac, MAC_BYTES, parseMac } from '../../lib/devices/virtio/net/mac';
import { DeviceStatus, MmioReg, VirtioDeviceId, VirtioFeature } from '../../lib/devices/virtio/transport/mmio-registers';
import { createVirtioMmioState } from '../../lib/devices/virtio/transport/mmio-state';
import { VirtioMmioTransport } from '../../lib/devices/virtio/transport/mmio-transport';
import type { QueueMemory } from '../../lib/devices/virtio/transport/split-virtqueue';
import { ConfigError } from '../../lib/kvm/errors';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { MmioDriver } from '../helpers/mmio-driver';
import { refillingMemory } from '../helpers/refilling-memory';
import { TestDriver } from '../helpers/virtqueue-driver';

const RAM = 2 * 1024 * 1024;
const RX_RINGS = 0x10000;
const TX_RINGS = 0x20000;
const RX_BUFFERS = 0x100000;
const TX_BUFFERS = 0x180000;
const BUFFER = 2048;

/** A TAP stand-in: frames queued by the test are read in order; written frames are kept. */
class ScriptedFrames implements FrameDevice {
  readonly waiting: Buffer[] = [];
  readonly written: Buffer[] = [];
  reads = 0;
  /** write() returns null (the interface cannot take it) while set. */
  full = false;
  /** read() throws this while set (a host failure). */
  failure: Error | undefined;
  #onReadable: (() => void) | undefined;

  read(into: Uint8Array[]): number | null {
    if (this.failure !== undefined) throw this.failure;
    const frame = this.waiting.shift();
    if (frame === undefined) return null;
    this.reads++;
    let at = 0;
    for (const view of into) {
      const n = Math.min(view.length, frame.length - at);
      if (n <= 0) break;
      view.set(frame.subarray(at, at + n));
      at += n;
    }
    return frame.length;
  }

  write(from: Uint8Array[]): number | null {
    if (this.full) return null;
    const frame = Buffer.concat(from);
    this.written.push(frame);
    return frame.length;
  }

  watch(onReadable: () => void): void {
    this.#onReadable = onReadable;
  }

  unwatch(): void {
    this.#onReadable = undefined;
  }

  get watching(): boolean {
    return this.#onReadable !== undefined;
  }

  /** Frames arrived: what the fd watcher does when the TAP becomes readable. */
  arrive(...frames: Buffer[]): void {
    this.waiting.push(...frames);
    this.#onReadable?.();
  }
}

const frame = (length: number, seed: number): Buffer => Buffer.from(Array.from({ length }, (_, i) => (seed + i) & 0xff));

describe('virtio-net back end over a scripted frame device', () => {
  let memory: GuestMemory;
  beforeEach(() => {
    memory = GuestMemory.allocate(ramLayout(RAM));
  });
  afterEach(() => memory.dispose());

  function rig(options: { size?: number; memory?: QueueMemory; activate?: boolean; counters?: boolean } = {}) {
    const transport = new VirtioMmioTransport(createVirtioMmioState(netDescription(parseMac('52:54:00:12:34:56'))));
    const counters = new DeviceCounters(NET_COUNTERS);
    const frames = new ScriptedFrames();
    let signals = 0;
    const backend = new VirtioNetBackend({ transport, memory: options.memory ?? memory, signal: () => signals++, ...(options.counters === false ? {} : { counters }) }, frames);
    const driver = new MmioDriver(transport);
    const rx = new TestDriver(memory, RX_RINGS, options.size ?? 16);
    const tx = new TestDriver(memory, TX_RINGS, options.size ?? 16);
    rx.clearRings(); // a test may make several rigs over the same memory
    tx.clearRings();
    assert.notEqual(driver.negotiate((1n << VirtioFeature.VERSION_1) | (1n << NetFeature.MAC)) & DeviceStatus.FEATURES_OK, 0);
    driver.setupQueue(RX_QUEUE, rx.config);
    driver.setupQueue(TX_QUEUE, tx.config);
    driver.driverOk();
    if (options.activate !== false) backend.activate();
    /** Posts receive buffers (descriptor i at RX_BUFFERS + i * BUFFER) without notifying. */
    const post = (first: number, count: number, length = BUFFER): void => {
      for (let i = first; i < first + count; i++) {
        memory.writeBytes(RX_BUFFERS + i * BUFFER, Buffer.alloc(length, 0xff));
        rx.makeAvailable(rx.writeChain(i, [{ address: RX_BUFFERS + i * BUFFER, length, writable: true }]));
      }
    };
    /** Offers one transmit chain (virtio_net_hdr + frame) at descriptor `slot`. */
    const send = (slot: number, bytes: Buffer): void => {
      memory.writeBytes(TX_BUFFERS + slot * BUFFER, bytes);
      tx.makeAvailable(tx.writeChain(slot, [{ address: TX_BUFFERS + slot * BUFFER, length: bytes.length, writable: false }]));
    };
    const received = (slot: number): Buffer => {
      const { id, len } = rx.usedEntry(slot);
      return Buffer.from(memory.readBytes(RX_BUFFERS + id * BUFFER, len));
    };
    return { transport, driver, counters, frames, backend, rx, tx, post, send, received, signals: () => signals };
  }

  it('5.1.6.4: a received frame follows a zeroed 12-byte virtio_net_hdr with num_buffers = 1; used length is header + frame', () => {
    const r = rig();
    r.post(0, 2);
    r.backend.notify(RX_QUEUE);
    assert.equal(r.frames.watching, true, 'buffers posted: the TAP is watched');
    r.frames.arrive(frame(60, 1), frame(1500, 2));
    assert.equal(r.rx.usedIndex(), 2);
    const first = r.received(0);
    assert.equal(first.length, NET_HEADER_SIZE + 60);
    const header = Buffer.alloc(NET_HEADER_SIZE);
    header.writeUInt16LE(1, 10);
    assert.deepEqual(first.subarray(0, NET_HEADER_SIZE), header);
    assert.deepEqual(first.subarray(NET_HEADER_SIZE), frame(60, 1));
    assert.deepEqual(r.received(1).subarray(NET_HEADER_SIZE), frame(1500, 2));
    assert.deepEqual(r.counters.read(), { ...r.counters.read(), rxFrames: 2, rxBytes: 1560, rxTruncated: 0 });
    assert.equal(r.signals(), 1, 'one interrupt for the batch');
  });

  it('5.1.6.4: the header may span descriptors: each byte of it lands where it belongs, the frame right after', () => {
    const r = rig();
    const pieces = [
      { address: RX_BUFFERS, length: 4, writable: true },
      { address: RX_BUFFERS + 0x100, length: 7, writable: true },
      { address: RX_BUFFERS + 0x200, length: 200, writable: true },
    ];
    for (const p of pieces) memory.writeBytes(p.address, Buffer.alloc(p.length, 0xff));
    r.rx.makeAvailable(r.rx.writeChain(0, pieces));
    r.backend.notify(RX_QUEUE);
    r.frames.arrive(frame(100, 9));
    assert.deepEqual(r.rx.usedEntry(0), { id: 0, len: NET_HEADER_SIZE + 100 });
    assert.deepEqual(Buffer.from(memory.readBytes(RX_BUFFERS, 4)), Buffer.alloc(4));
    assert.deepEqual(Buffer.from(memory.readBytes(RX_BUFFERS + 0x100, 7)), Buffer.from([0, 0, 0, 0, 0, 0, 1]), 'num_buffers low byte at offset 10');
    const third = Buffer.from(memory.readBytes(RX_BUFFERS + 0x200, 101));
    assert.equal(third[0], 0, 'num_buffers high byte at offset 11');
    assert.deepEqual(third.subarray(1), frame(100, 9));
  });

  it('5.1.6.4: a frame larger than the buffer is cut to it and counted as truncated', () => {
    const r = rig();
    r.post(0, 1, NET_HEADER_SIZE + 64);
    r.backend.notify(RX_QUEUE);
    r.frames.arrive(frame(100, 3));
    assert.deepEqual(r.rx.usedEntry(0), { id: 0, len: NET_HEADER_SIZE + 64 });
    assert.deepEqual(r.received(0).subarray(NET_HEADER_SIZE), frame(64, 3));
    assert.equal(r.counters.get('rxTruncated'), 1);
    assert.equal(r.counters.get('rxBytes'), 64);
    assert.equal(r.counters.get('rxFrames'), 1);
    r.post(1, 1, NET_HEADER_SIZE + 64);
    r.backend.notify(RX_QUEUE);
    r.frames.arrive(frame(64, 5));
    assert.deepEqual(r.rx.usedEntry(1), { id: 1, len: NET_HEADER_SIZE + 64 });
    assert.equal(r.counters.get('rxTruncated'), 1, 'a frame that exactly fits is not truncated');
  });

  it('5.1.6.4: a buffer with no room beyond the header is returned empty (length 0) and takes no frame', () => {
    const r = rig();
    r.post(0, 1, NET_HEADER_SIZE);
    r.post(1, 1);
    r.backend.notify(RX_QUEUE);
    r.frames.arrive(frame(60, 4));
    assert.equal(r.rx.usedIndex(), 2);
    assert.deepEqual(r.rx.usedEntry(0), { id: 0, len: 0 });
    assert.deepEqual(Buffer.from(memory.readBytes(RX_BUFFERS, NET_HEADER_SIZE)), Buffer.alloc(NET_HEADER_SIZE, 0xff), 'the small buffer is untouched');
    assert.deepEqual(r.received(1).subarray(NET_HEADER_SIZE), frame(60, 4), 'the frame goes to the next buffer');
    assert.equal(r.frames.reads, 1);
    const only = rig();
    only.post(0, 1, NET_HEADER_SIZE);
    only.backend.notify(RX_QUEUE);
    only.frames.arrive(frame(60, 4));
    assert.deepEqual(only.rx.usedEntry(0), { id: 0, len: 0 });
    assert.equal(only.signals(), 1, 'a buffer returned empty is still used: the driver is interrupted');
  });

  it('with no receive buffers the TAP is not read: frames wait there until the guest posts buffers and notifies', () => {
    const r = rig();
    r.backend.notify(RX_QUEUE);
    r.frames.arrive(frame(60, 5));
    assert.equal(r.frames.watching, false, 'stopped watching');
    assert.equal(r.counters.get('rxWaitsForBuffers'), 1);
    assert.equal(r.frames.waiting.length, 1, 'the frame was not taken');
    r.frames.arrive(frame(60, 6));
    assert.equal(r.frames.waiting.length, 2, 'not watching: nothing read');
    r.post(0, 4);
    r.backend.notify(RX_QUEUE);
    assert.equal(r.rx.usedIndex(), 2, 'both delivered on the notification');
    assert.deepEqual(r.received(1).subarray(NET_HEADER_SIZE), frame(60, 6));
    assert.equal(r.frames.watching, true);
    assert.equal(r.counters.get('rxWaitsForBuffers'), 1, 'buffers left: still reading');
    assert.equal(r.signals(), 1);
  });

  it('a buffer taken when no frame waits goes back to the guest untouched and gets the next frame', () => {
    const r = rig();
    r.post(0, 1);
    r.backend.notify(RX_QUEUE);
    assert.equal(r.rx.usedIndex(), 0);
    assert.equal(r.signals(), 0, 'nothing used, no interrupt');
    assert.deepEqual(Buffer.from(memory.readBytes(RX_BUFFERS, BUFFER)), Buffer.alloc(BUFFER, 0xff));
    assert.equal(r.transport.queueIndices(RX_QUEUE).nextAvail, 0, 'the chain was put back');
    r.frames.arrive(frame(70, 7));
    assert.deepEqual(r.rx.usedEntry(0), { id: 0, len: NET_HEADER_SIZE + 70 });
  });

  it('a notification on the receive queue while the TAP is already watched reads nothing itself', () => {
    const r = rig();
    r.post(0, 2);
    r.backend.notify(RX_QUEUE);
    r.frames.waiting.push(frame(60, 8));
    r.backend.notify(RX_QUEUE);
    assert.equal(r.frames.reads, 0, 'the watcher, not the notification, reads');
    r.backend.notify(7);
    assert.equal(r.frames.reads, 0, 'a queue that does not exist');
    r.frames.arrive();
    assert.equal(r.frames.reads, 1);
    const idle = rig();
    idle.frames.arrive();
    assert.equal(idle.frames.watching, false, 'no buffers: not watched');
    idle.post(0, 1);
    idle.frames.waiting.push(frame(60, 9));
    idle.backend.notify(TX_QUEUE);
    idle.backend.notify(7);
    assert.equal(idle.frames.watching, false, 'only a receive-queue notification restarts reading');
    assert.equal(idle.frames.reads, 0);
  });

  it(`receives at most NET_FRAMES_PER_TURN (${NET_FRAMES_PER_TURN}) frames per turn and keeps watching for the rest`, () => {
    const r = rig({ size: NET_QUEUE_SIZE });
    r.post(0, NET_QUEUE_SIZE, 128);
    r.backend.notify(RX_QUEUE);
    r.frames.arrive(...Array.from({ length: NET_FRAMES_PER_TURN + 10 }, (_, i) => frame(60, i)));
    assert.equal(r.rx.usedIndex(), NET_FRAMES_PER_TURN);
    assert.equal(r.frames.waiting.length, 10);
    assert.equal(r.frames.watching, true, 'the budget, not a lack of buffers, ended the turn');
    assert.equal(r.counters.get('rxWaitsForBuffers'), 0);
  });

  it('5.1.6.2: transmits the frame after the 12-byte header; used length 0; a header-only chain sends nothing; a full TAP drops and counts', () => {
    const r = rig();
    const header = Buffer.alloc(NET_HEADER_SIZE, 0x11);
    r.send(0, Buffer.concat([header, frame(60, 1)]));
    r.send(1, header);
    r.send(2, Buffer.concat([header, frame(1, 2)]));
    r.backend.notify(TX_QUEUE);
    assert.deepEqual(r.frames.written, [frame(60, 1), frame(1, 2)]);
    assert.equal(r.tx.usedIndex(), 3);
    for (let slot = 0; slot < 3; slot++) assert.deepEqual(r.tx.usedEntry(slot), { id: slot, len: 0 });
    assert.equal(r.counters.get('txFrames'), 2);
    assert.equal(r.counters.get('txBytes'), 61);
    assert.equal(r.signals(), 1);
    r.frames.full = true;
    r.send(3, Buffer.concat([header, frame(60, 3)]));
    r.backend.notify(TX_QUEUE);
    assert.equal(r.tx.usedIndex(), 4, 'the buffer is returned all the same');
    assert.equal(r.counters.get('txDropped'), 1);
    assert.equal(r.counters.get('txFrames'), 2);
    assert.equal(r.frames.written.length, 2);
  });

  it(`transmits at most NET_FRAMES_PER_TURN (${NET_FRAMES_PER_TURN}) frames per turn, then goes on in a later turn`, async () => {
    const total = NET_FRAMES_PER_TURN + 20;
    const refilling = refillingMemory(memory, total);
    const r = rig({ memory: refilling.memory, size: 4 });
    refilling.queue = r.tx;
    r.send(0, Buffer.concat([Buffer.alloc(NET_HEADER_SIZE), frame(60, 0)]));
    refilling.offered = 1;
    r.backend.notify(TX_QUEUE);
    assert.equal(r.tx.usedIndex(), NET_FRAMES_PER_TURN, 'one turn sends 256 frames');
    r.backend.notify(TX_QUEUE);
    assert.equal(r.tx.usedIndex(), NET_FRAMES_PER_TURN, 'a notification while a turn is pending adds none');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(r.tx.usedIndex(), total, 'the next turn sends the rest');
    assert.equal(r.frames.written.length, total);
  });

  it('without counters (they are optional) frames still move both ways, truncated, dropped or waiting for buffers', () => {
    const r = rig({ counters: false });
    r.frames.arrive(frame(20, 1));
    assert.equal(r.frames.watching, false, 'no buffers: stopped reading');
    r.post(0, 1, NET_HEADER_SIZE + 10);
    r.backend.notify(RX_QUEUE);
    assert.deepEqual(r.rx.usedEntry(0), { id: 0, len: NET_HEADER_SIZE + 10 }, 'the waiting frame, cut to the buffer');
    r.send(0, Buffer.concat([Buffer.alloc(NET_HEADER_SIZE), frame(30, 2)]));
    r.backend.notify(TX_QUEUE);
    r.frames.full = true;
    r.send(1, Buffer.concat([Buffer.alloc(NET_HEADER_SIZE), frame(30, 3)]));
    r.backend.notify(TX_QUEUE);
    assert.equal(r.tx.usedIndex(), 2);
    assert.deepEqual(r.frames.written, [frame(30, 2)]);
    assert.equal(r.backend.error, undefined);
    assert.equal(r.transport.status & DeviceStatus.DEVICE_NEEDS_RESET, 0);
  });

  it('after a full turn that emptied the transmit queue, the next notification is served at once', () => {
    const r = rig({ size: NET_QUEUE_SIZE });
    for (let slot = 0; slot < NET_FRAMES_PER_TURN; slot++) r.send(slot, Buffer.concat([Buffer.alloc(NET_HEADER_SIZE), frame(20, slot)]));
    r.backend.notify(TX_QUEUE);
    assert.equal(r.tx.usedIndex(), NET_FRAMES_PER_TURN);
    r.send(0, Buffer.concat([Buffer.alloc(NET_HEADER_SIZE), frame(20, 0)]));
    r.backend.notify(TX_QUEUE);
    assert.equal(r.tx.usedIndex(), NET_FRAMES_PER_TURN + 1, 'no turn was left pending');
  });

  it('pause stops reading and sending until resume; resume watches the TAP again', () => {
    const r = rig();
    r.post(0, 2);
    r.backend.notify(RX_QUEUE);
    r.backend.pause();
    assert.equal(r.frames.watching, false);
    r.send(0, Buffer.concat([Buffer.alloc(NET_HEADER_SIZE), frame(60, 1)]));
    r.backend.notify(TX_QUEUE);
    r.backend.notify(RX_QUEUE);
    assert.equal(r.tx.usedIndex(), 0, 'nothing sent while paused');
    assert.equal(r.frames.watching, false, 'a notification does not restart reading');
    r.backend.resume();
    assert.equal(r.frames.watching, true);
    r.frames.arrive(frame(60, 2));
    assert.equal(r.rx.usedIndex(), 1);
    r.backend.notify(TX_QUEUE);
    assert.equal(r.tx.usedIndex(), 1);
  });

  it('activate only watches a running device with live queues; reset and quiesce drop the queues and stop watching', () => {
    const early = rig({ activate: false });
    early.backend.notify(RX_QUEUE);
    assert.equal(early.frames.watching, false, 'no queues yet: not watched');
    const paused = rig({ activate: false });
    paused.backend.pause();
    paused.backend.activate();
    assert.equal(paused.frames.watching, false, 'activated while paused');
    paused.backend.resume();
    assert.equal(paused.frames.watching, true);

    const r = rig();
    assert.equal(r.frames.watching, true, 'activated: watched');
    r.backend.reset();
    assert.equal(r.frames.watching, false);
    r.post(0, 1);
    r.send(0, Buffer.concat([Buffer.alloc(NET_HEADER_SIZE), frame(60, 1)]));
    r.backend.notify(TX_QUEUE);
    r.backend.notify(RX_QUEUE);
    r.backend.resume();
    assert.equal(r.tx.usedIndex(), 0);
    assert.equal(r.frames.watching, false, 'no receive queue after reset');
    const q = rig();
    q.backend.quiesce();
    q.backend.resume();
    q.backend.notify(RX_QUEUE);
    assert.equal(q.frames.watching, false);
  });

  it('activate before DRIVER_OK takes no queues and does not watch the TAP', () => {
    const transport = new VirtioMmioTransport(createVirtioMmioState(netDescription(parseMac('52:54:00:12:34:56'))));
    const frames = new ScriptedFrames();
    const backend = new VirtioNetBackend({ transport, memory, signal: () => {} }, frames);
    backend.activate();
    backend.notify(TX_QUEUE);
    assert.equal(frames.watching, false);
    assert.equal(transport.status & DeviceStatus.DEVICE_NEEDS_RESET, 0);
  });

  it('a queue the guest broke is left alone until reset: later notifications raise no further interrupt', () => {
    const r = rig();
    r.rx.writeDescriptor(0, { address: RAM * 4, length: 64, flags: 2, next: 0 });
    r.rx.makeAvailable(0);
    r.tx.writeDescriptor(0, { address: RAM * 4, length: 64, flags: 0, next: 0 });
    r.tx.makeAvailable(0);
    r.frames.arrive(frame(60, 1));
    r.backend.notify(TX_QUEUE);
    assert.notEqual(r.transport.status & DeviceStatus.DEVICE_NEEDS_RESET, 0);
    const signals = r.signals();
    r.driver.write(MmioReg.INTERRUPT_ACK, r.driver.read(MmioReg.INTERRUPT_STATUS));
    r.backend.notify(RX_QUEUE);
    r.frames.arrive(frame(60, 2));
    r.backend.notify(TX_QUEUE);
    assert.equal(r.signals(), signals, 'no new interrupt');
    assert.equal(r.driver.read(MmioReg.INTERRUPT_STATUS), 0);
    assert.equal(r.frames.reads, 0);
    assert.equal(r.backend.error, undefined);
  });

  it('a host failure reading the TAP stops the device: the error is kept, NEEDS_RESET, the TAP no longer watched', () => {
    const r = rig();
    r.post(0, 1);
    r.backend.notify(RX_QUEUE);
    const failure = new Error('EIO from the TAP');
    r.frames.failure = failure;
    r.frames.arrive();
    assert.equal(r.backend.error, failure);
    assert.notEqual(r.transport.status & DeviceStatus.DEVICE_NEEDS_RESET, 0);
    assert.equal(r.frames.watching, false);
  });

  it('a broken receive chain is the guest\'s error: NEEDS_RESET, no host error, a later one keeps the first host error', () => {
    const r = rig();
    r.rx.writeDescriptor(0, { address: RAM * 4, length: 64, flags: 2, next: 0 });
    r.rx.makeAvailable(0);
    r.backend.notify(RX_QUEUE);
    r.frames.arrive(frame(60, 1));
    assert.notEqual(r.transport.status & DeviceStatus.DEVICE_NEEDS_RESET, 0);
    assert.equal(r.backend.error, undefined);
    assert.equal(r.frames.watching, false);
    const s = rig();
    s.post(0, 1);
    s.backend.notify(RX_QUEUE);
    const failure = new Error('first');
    s.frames.failure = failure;
    s.frames.arrive();
    s.tx.writeDescriptor(0, { address: RAM * 4, length: 64, flags: 0, next: 0 });
    s.tx.makeAvailable(0);
    s.backend.notify(TX_QUEUE);
    assert.equal(s.backend.error, failure, 'the guest error after it does not clear it');
  });
});

describe('virtio-net device description and MAC addresses', () => {
  it('5.1.3-5.1.4: a network device with MAC, indirect descriptors and EVENT_IDX, two 256-entry queues, the MAC as config space', () => {
    const mac = parseMac('52:54:00:ab:CD:ef');
    const description = netDescription(mac);
    assert.equal(description.deviceId, VirtioDeviceId.NET);
    assert.equal(NetFeature.MAC, 5n);
    assert.equal(description.features, (1n << 5n) | (1n << VirtioFeature.INDIRECT_DESC) | (1n << VirtioFeature.EVENT_IDX));
    assert.deepEqual(description.queueSizes, [NET_QUEUE_SIZE, NET_QUEUE_SIZE]);
    assert.equal(NET_QUEUE_SIZE, 256);
    assert.deepEqual(Array.from(description.config ?? []), [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef]);
  });

  it('a MAC is six hex pairs and unicast; formatMac writes two lower-case digits per byte', () => {
    assert.equal(formatMac(parseMac('02:0A:00:ff:7f:01')), '02:0a:00:ff:7f:01');
    assert.equal(formatMac(Uint8Array.of(2, 0, 0, 0, 0, 10)), '02:00:00:00:00:0a');
    for (const bad of ['52:54:00:12:34', '52:54:00:12:34:56:78', '5:54:00:12:34:56', '52:54:00:12:34:5g', '52-54-00-12-34-56', '', '052:54:00:12:34:56']) {
      assert.throws(() => parseMac(bad), (e: Error) => e instanceof ConfigError && e.message.includes(`'${bad}'`), bad);
    }
    assert.throws(() => parseMac('03:00:00:00:00:01'), (e: Error) => e instanceof ConfigError && /multicast/.test(e.message));
  });

  it('a missing MAC is random, locally administered and unicast', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 64; i++) {
      const mac = parseMac();
      assert.equal(mac.length, MAC_BYTES);
      assert.equal((mac[0] as number) & 0x03, 0x02, formatMac(mac));
      seen.add(formatMac(mac));
    }
    assert.ok(seen.size > 60, 'random');
  });
});
