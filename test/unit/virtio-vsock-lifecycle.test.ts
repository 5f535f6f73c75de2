// virtio-vsock's back end over its life: listening (and failing to), pause and resume, a driver reset,
// quiesce releasing every socket and the server, a restored snapshot's transport reset on the event
// queue (virtio 1.2, 5.10.6.7), interrupts, and a guest that breaks a queue.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { DeviceStatus, InterruptBit, MmioReg } from '../../lib/devices/virtio/transport/mmio-registers';
import { createVirtioMmioState } from '../../lib/devices/virtio/transport/mmio-state';
import { VirtioMmioTransport } from '../../lib/devices/virtio/transport/mmio-transport';
import { VirtioVsockBackend, VSOCK_HOST_PENDING_MAX } from '../../lib/devices/virtio/vsock/backend';
import { vsockDescription } from '../../lib/devices/virtio/vsock/device';
import { VsockOp } from '../../lib/devices/virtio/vsock/packet';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { makeSocketDir } from '../helpers/socket-dir';
import { acceptFromHost, connectFromGuest, GUEST_CID, HostPeer, settle, until, type VsockRig, vsockRig } from '../helpers/vsock-guest';

describe('virtio-vsock back end lifecycle', function () {
  this.timeout(20_000);
  let rig: VsockRig | undefined;

  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });

  describe('listening', () => {
    let dir: string;
    beforeEach(() => {
      dir = makeSocketDir('vsock-listen-');
    });
    afterEach(() => {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    let memory: GuestMemory | undefined;
    afterEach(() => {
      memory?.dispose();
      memory = undefined;
    });

    function backendAt(socketPath: string): VirtioVsockBackend {
      const transport = new VirtioMmioTransport(createVirtioMmioState(vsockDescription(GUEST_CID)));
      memory = GuestMemory.allocate(ramLayout(1024 * 1024));
      return new VirtioVsockBackend({ transport, memory, signal: () => {} }, { guestCid: GUEST_CID, socketPath });
    }

    it('ready() rejects with the listen error (a missing directory), and the back end keeps it as its error', async () => {
      const backend = backendAt(path.join(dir, 'missing', 'v.sock'));
      let failure: unknown;
      await assert.rejects(backend.ready(), (error: NodeJS.ErrnoException) => {
        failure = error;
        return error.syscall === 'listen';
      });
      assert.equal(backend.error, failure);
      await backend.quiesce();
    });

    it('ready() rejects when something already listens there', async () => {
      const socketPath = path.join(dir, 'taken.sock');
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(socketPath, resolve));
      try {
        const backend = backendAt(socketPath);
        let failure: unknown;
        await assert.rejects(backend.ready(), (error: NodeJS.ErrnoException) => {
          failure = error;
          return error.code === 'EADDRINUSE';
        });
        assert.equal(backend.error, failure);
        await backend.quiesce();
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  });

  it('quiesce() closes every host socket, stops listening and removes the socket file; a second quiesce() does nothing', async () => {
    const r = (rig = await vsockRig());
    const fromHost = await acceptFromHost(r, 50);
    const fromGuest = await connectFromGuest(r, 51, 2051);
    assert.ok(fs.existsSync(r.socketPath));
    await r.backend.quiesce();
    await until(() => fromHost.peer.closed && fromGuest.peer.closed, 'both host sockets to close');
    assert.equal(fs.existsSync(r.socketPath), false);
    assert.deepEqual(r.backend.usage(), { connections: 0, controlBacklog: 0, maxHostPendingBytes: 0, maxUnforwardedBytes: 0 });
    assert.equal(r.counters.get('openConnections'), 0);
    const refused = net.connect(r.socketPath);
    await new Promise<void>((resolve) => refused.once('error', () => resolve()));
    const used = r.guest.txUsed();
    r.guest.send(VsockOp.REQUEST, 52, 2051);
    assert.equal(r.guest.txUsed(), used, 'the queues are no longer served');
    await r.backend.quiesce();
  });

  it('quiesce() also closes host sockets before their CONNECT line, or refused and left half open, instead of waiting for them', async () => {
    const r = (rig = await vsockRig());
    const idle = r.connectHost();
    const halfOpen = new HostPeer(net.connect({ path: r.socketPath, allowHalfOpen: true }));
    await until(() => idle.connected && halfOpen.socket.readyState === 'open', 'both host programs to connect');
    halfOpen.socket.write('CONNECT nope\n');
    await until(() => halfOpen.ended, 'the refusal');
    await settle();
    let quiesced = false;
    void r.backend.quiesce().then(() => {
      quiesced = true;
    });
    // The server's close completes only once it holds no connection: resolving means both were closed.
    await until(() => quiesced, 'quiesce() to resolve');
    await until(() => idle.closed, 'the idle host program to see its socket closed');
    assert.equal(fs.existsSync(r.socketPath), false);
  });

  it('reset() drops every connection and the queues: later notifications are not served', async () => {
    const r = (rig = await vsockRig());
    const { peer } = await acceptFromHost(r, 53);
    const listener = await connectFromGuest(r, 54, 2054);
    r.backend.reset();
    await until(() => peer.closed && listener.peer.closed, 'the host sockets to close');
    assert.equal(r.backend.usage().connections, 0);
    assert.equal(r.counters.get('openConnections'), 0);
    const used = r.guest.txUsed();
    r.guest.send(VsockOp.REQUEST, 55, 2054);
    assert.equal(r.guest.txUsed(), used);
    await settle();
    assert.deepEqual(r.guest.pump(), [], 'no RST for the dropped connections: the driver reset the device');
  });

  it('reset() forgets data waiting for receive buffers: after re-activation none of it is delivered', async () => {
    const r = (rig = await vsockRig({ rxBuffers: 1, rxSize: 44 }));
    const { peer } = await acceptFromHost(r, 65, 'stale data', 0);
    assert.equal(r.backend.usage().maxHostPendingBytes, 10);
    r.backend.reset();
    await until(() => peer.closed, 'the host socket to close');
    r.backend.activate();
    r.guest.postRx(4);
    assert.deepEqual(r.guest.receive(), []);
    assert.equal(r.counters.get('toGuestBytes'), 0);
  });

  it('reset() forgets replies waiting for receive buffers', async () => {
    const r = (rig = await vsockRig({ rxBuffers: 0 }));
    for (let port = 0; port < 5; port++) r.guest.send(VsockOp.REQUEST, port, 1, { dstCid: 9n });
    assert.equal(r.backend.usage().controlBacklog, 5);
    r.backend.reset();
    assert.equal(r.backend.usage().controlBacklog, 0);
  });

  describe('pause() and resume()', () => {
    it('while paused neither queue nor host socket is served; resume() catches up on both', async () => {
      const r = (rig = await vsockRig());
      const { peer, hostPort } = await acceptFromHost(r, 56);
      r.guest.inbox.length = 0;
      r.backend.pause();
      peer.socket.write('host while paused');
      const used = r.guest.txUsed();
      r.guest.send(VsockOp.RW, 56, hostPort, { payload: Buffer.from('guest while paused') });
      await settle();
      assert.equal(r.guest.txUsed(), used, 'the tx queue waits');
      assert.deepEqual(r.guest.pump(), [], 'nothing delivered');
      assert.equal(r.backend.usage().maxHostPendingBytes, 0, 'the host socket is not read');
      r.backend.resume();
      assert.equal(r.guest.txUsed(), used + 1);
      const data = await r.guest.expect(VsockOp.RW, { guestPort: 56 });
      assert.equal(data.payload.toString(), 'host while paused');
      await until(() => peer.text().endsWith('guest while paused'), 'the guest\'s bytes at the host');
    });

    it('a reply that came up while paused goes out at resume()', async () => {
      const r = (rig = await vsockRig());
      const { peer, hostPort } = await acceptFromHost(r, 64);
      r.guest.inbox.length = 0;
      r.backend.pause();
      peer.socket.destroy();
      await until(() => r.counters.get('resets') === 1, 'the host socket to close');
      assert.deepEqual(r.guest.pump(), []);
      r.backend.resume();
      const replies = r.guest.receive().map((p) => [p.header?.op, p.header?.srcPort, p.header?.dstPort]);
      // The socket may or may not have read its end before closing: SHUTDOWN, if any, comes first.
      assert.deepEqual(replies.at(-1), [VsockOp.RST, hostPort, 64]);
      assert.ok(replies.slice(0, -1).every(([op]) => op === VsockOp.SHUTDOWN) && replies.length <= 2, JSON.stringify(replies));
    });

    it('resume() leaves a connection the guest has not accepted yet unread', async () => {
      const r = (rig = await vsockRig());
      const peer = r.connectHost();
      await until(() => peer.connected, 'connect');
      peer.socket.write('CONNECT 57\n');
      await r.guest.expect(VsockOp.REQUEST, { guestPort: 57 });
      peer.socket.write('too early');
      r.backend.pause();
      r.backend.resume();
      await settle();
      assert.equal(r.backend.usage().maxHostPendingBytes, 0);
    });

    it(`resume() leaves a connection holding ${VSOCK_HOST_PENDING_MAX} bytes for the guest unread`, async () => {
      const r = (rig = await vsockRig());
      r.guest.bufAlloc = 0;
      const { peer } = await acceptFromHost(r, 58);
      peer.socket.write(Buffer.alloc(1024 * 1024));
      await until(() => r.backend.usage().maxHostPendingBytes >= VSOCK_HOST_PENDING_MAX, 'the pending bound');
      await settle();
      const held = r.backend.usage().maxHostPendingBytes;
      r.backend.pause();
      r.backend.resume();
      await settle();
      assert.equal(r.backend.usage().maxHostPendingBytes, held);
    });
  });

  describe('5.10.6.7: transport reset after a restore', () => {
    it('5.10.6.7: a restored back end puts VIRTIO_VSOCK_EVENT_TRANSPORT_RESET in the first event buffer, once', async () => {
      const r = (rig = await vsockRig({ activate: false }));
      assert.deepEqual(r.backend.saveState(), { connections: 0 });
      r.backend.restoreState({ connections: 3 });
      r.start();
      r.guest.postEvent(8, false);
      assert.deepEqual(r.guest.receiveEvents(), [], 'the event waits for a buffer and a notification');
      r.backend.notify(2);
      assert.deepEqual(r.guest.receiveEvents(), [{ len: 4, id: 0 }]);
      r.guest.postEvent();
      assert.deepEqual(r.guest.receiveEvents(), [], 'only one transport reset');
      assert.ok(r.signals() > 0);
    });

    it('5.10.6.7: an event buffer the driver offered before DRIVER_OK gets the event at activation', async () => {
      const r = (rig = await vsockRig({ activate: false }));
      r.backend.restoreState(undefined);
      r.guest.postEvent();
      assert.deepEqual(r.guest.receiveEvents(), []);
      r.start();
      assert.deepEqual(r.guest.receiveEvents(), [{ len: 4, id: 0 }]);
    });

    it('5.10.6.7: an event buffer too small for the event comes back empty', async () => {
      const r = (rig = await vsockRig({ activate: false }));
      r.backend.restoreState(undefined);
      r.guest.postEvent(2, false);
      r.start();
      assert.deepEqual(r.guest.receiveEvents().map((e) => e.len), [0]);
    });

    it('no event without a restore, whether the buffer came before or after activation', async () => {
      const r = (rig = await vsockRig({ activate: false }));
      r.guest.postEvent();
      r.start();
      r.guest.postEvent();
      assert.deepEqual(r.guest.receiveEvents(), []);
    });

    it('5.10.6.7: a driver reset in between drops the event queue: a buffer offered then gets nothing', async () => {
      const r = (rig = await vsockRig({ activate: false }));
      r.backend.restoreState(undefined);
      r.start();
      r.backend.reset();
      r.guest.postEvent();
      assert.deepEqual(r.guest.receiveEvents(), []);
    });

    it('a driver that never sets up the event queue still gets a working device', async () => {
      const r = (rig = await vsockRig({ eventQueue: false, activate: false }));
      r.backend.restoreState(undefined);
      r.start();
      assert.equal(r.transport.status & DeviceStatus.DEVICE_NEEDS_RESET, 0);
      const { response } = await connectFromGuest(r, 59, 2059);
      assert.equal(response.op, VsockOp.RESPONSE);
    });
  });

  describe('interrupts and broken queues', () => {
    it('used buffers raise the used-buffer interrupt; a notify that uses nothing raises none', async () => {
      const r = (rig = await vsockRig());
      const before = r.signals();
      r.guest.kick();
      assert.equal(r.signals(), before, 'nothing used, no interrupt');
      r.guest.send(VsockOp.RW, 60, 2060, { payload: Buffer.from('x') });
      assert.equal(r.guest.receive().length, 1);
      assert.ok(r.signals() > before);
      assert.notEqual(r.driver.read(MmioReg.INTERRUPT_STATUS) & InterruptBit.USED_BUFFER, 0);
    });

    it('a tx chain used with nothing for the receive queue still raises the used-buffer interrupt', async () => {
      const r = (rig = await vsockRig({ rxBuffers: 0 }));
      const before = r.signals();
      r.guest.send(VsockOp.RW, 66, 2066, { payload: Buffer.from('x') });
      assert.equal(r.guest.txUsed(), 1);
      assert.ok(r.signals() > before);
    });

    it('a tx ring with an impossible avail index marks the device NEEDS_RESET (a guest error, not a host one)', async () => {
      const r = (rig = await vsockRig());
      r.guest.tx.driver.setAvailIndex(1000);
      const before = r.signals();
      r.guest.kick();
      assert.notEqual(r.transport.status & DeviceStatus.DEVICE_NEEDS_RESET, 0);
      assert.notEqual(r.driver.read(MmioReg.INTERRUPT_STATUS) & InterruptBit.CONFIG_CHANGE, 0);
      assert.ok(r.signals() > before);
      assert.equal(r.backend.error, undefined);
      r.guest.kick();
      assert.deepEqual(r.guest.receive(), []);
    });

    it('an rx ring with an impossible avail index marks the device NEEDS_RESET and delivers nothing more', async () => {
      const r = (rig = await vsockRig({ rxBuffers: 0 }));
      r.guest.send(VsockOp.RW, 61, 2061, { payload: Buffer.from('x') });
      assert.equal(r.backend.usage().controlBacklog, 1);
      r.guest.rx.driver.setAvailIndex(1000);
      r.backend.notify(0);
      assert.notEqual(r.transport.status & DeviceStatus.DEVICE_NEEDS_RESET, 0);
      assert.equal(r.backend.error, undefined);
      assert.equal(r.backend.usage().controlBacklog, 1);
    });

    it('an event ring with an impossible avail index marks the device NEEDS_RESET', async () => {
      const r = (rig = await vsockRig({ activate: false }));
      r.backend.restoreState(undefined);
      r.guest.events.driver.setAvailIndex(1000);
      r.start();
      assert.notEqual(r.transport.status & DeviceStatus.DEVICE_NEEDS_RESET, 0);
      assert.equal(r.backend.error, undefined);
    });
  });

  it('without counters the back end serves connections both ways, refusals and resets all the same', async () => {
    const r = (rig = await vsockRig({ counters: false }));
    const fromGuest = await connectFromGuest(r, 62, 2062);
    r.guest.send(VsockOp.RW, 62, 2062, { payload: Buffer.from('to host') });
    await until(() => fromGuest.peer.text() === 'to host', 'the bytes at the host');
    const fromHost = await acceptFromHost(r, 63);
    fromHost.peer.socket.write('to guest');
    const data = await r.guest.expect(VsockOp.RW, { guestPort: 63 });
    assert.equal(data.payload.toString(), 'to guest');
    const refused = r.connectHost();
    await until(() => refused.connected, 'connect');
    refused.socket.write('CONNECT nope\n');
    await until(() => refused.ended, 'the refusal');
    for (let i = 0; i < 5; i++) r.guest.send(VsockOp.RW, 62, 2062, { payload: Buffer.alloc(64 * 1024) });
    await r.guest.expect(VsockOp.RST, { guestPort: 62 });
    await until(() => fromGuest.peer.closed, 'the violating connection to close');
    fromHost.peer.socket.destroy();
    await r.guest.expect(VsockOp.RST, { guestPort: 63 });
    assert.equal(r.backend.usage().connections, 0);
    assert.equal(r.counters.get('connections'), 0, 'the rig\'s counters were never handed over');
  });
});
