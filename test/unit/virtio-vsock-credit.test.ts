// virtio-vsock flow control (virtio 1.2, 5.10.6.3 and 5.10.6.1): the host never sends the guest more
// than its buf_alloc minus what is in flight, cuts data to the receive buffers it gets, tells the guest
// about freed room, resets a guest that ignores the host's credit, and keeps its own backlogs bounded.
import { strict as assert } from 'node:assert';
import { VSOCK_BUF_ALLOC, VSOCK_CONNECTS_PER_TURN, VSOCK_CONTROL_BACKLOG, VSOCK_HOST_PENDING_MAX } from '../../lib/devices/virtio/vsock/backend';
import { VSOCK_HEADER_SIZE, type VsockHeader, VsockOp } from '../../lib/devices/virtio/vsock/packet';
import { acceptFromHost, connectFromGuest, type RxPacket, settle, until, type VsockRig, vsockRig } from '../helpers/vsock-guest';

const GUEST_PORT = 1234;

/** The RW packets in `packets`, as [len, payload text]. */
const rw = (packets: readonly RxPacket[]): [number, string][] => packets.filter((p) => p.header?.op === VsockOp.RW).map((p) => [(p.header as VsockHeader).len, p.payload.toString('latin1')]);

describe('virtio-vsock flow control', function () {
  this.timeout(20_000);
  let rig: VsockRig;

  afterEach(async () => {
    await rig.close();
  });

  describe('5.10.6.3: host -> guest within the guest\'s credit', () => {
    beforeEach(async () => {
      rig = await vsockRig();
    });

    it('5.10.6.3: the host sends at most buf_alloc bytes, then more only as the guest\'s fwd_cnt moves', async () => {
      rig.guest.bufAlloc = 100;
      const { peer, hostPort } = await acceptFromHost(rig, GUEST_PORT);
      peer.socket.write(Buffer.alloc(250, 0x61));
      await until(() => rig.counters.get('toGuestBytes') === 100, '100 bytes to the guest');
      await settle();
      const first = rig.guest.pump();
      assert.deepEqual(rw(first).map(([len]) => len), [100], 'one RW of exactly the credit');
      const header = first.find((p) => p.header?.op === VsockOp.RW)?.header as VsockHeader;
      assert.equal(header.srcPort, hostPort);
      assert.equal(header.dstPort, GUEST_PORT);
      assert.equal(header.bufAlloc, VSOCK_BUF_ALLOC);
      assert.equal(rig.backend.usage().maxHostPendingBytes, 150, 'the rest waits for credit');

      rig.guest.fwdCnt = 100;
      rig.guest.send(VsockOp.CREDIT_UPDATE, GUEST_PORT, hostPort);
      assert.deepEqual(rw(rig.guest.receive()).map(([len]) => len), [100], 'a CREDIT_UPDATE frees exactly what it acknowledges');
      rig.guest.fwdCnt = 200;
      rig.guest.send(VsockOp.CREDIT_UPDATE, GUEST_PORT, hostPort);
      assert.deepEqual(rw(rig.guest.receive()).map(([len]) => len), [50]);
      assert.equal(rig.counters.get('toGuestBytes'), 250);
      assert.equal(rig.backend.usage().maxHostPendingBytes, 0);
    });

    it('5.10.6.3: free space is buf_alloc - (tx_cnt - fwd_cnt): a larger buf_alloc alone frees the difference', async () => {
      rig.guest.bufAlloc = 100;
      const { peer, hostPort } = await acceptFromHost(rig, GUEST_PORT);
      peer.socket.write(Buffer.alloc(400, 0x62));
      await until(() => rig.counters.get('toGuestBytes') === 100, 'the first 100 bytes');
      await until(() => rig.backend.usage().maxHostPendingBytes === 300, 'the rest pending');
      rig.guest.receive();
      rig.guest.bufAlloc = 150;
      rig.guest.send(VsockOp.CREDIT_UPDATE, GUEST_PORT, hostPort, { fwdCnt: 0 });
      assert.deepEqual(rw(rig.guest.receive()).map(([len]) => len), [50]);
      rig.guest.send(VsockOp.CREDIT_UPDATE, GUEST_PORT, hostPort, { fwdCnt: 0 });
      assert.deepEqual(rw(rig.guest.receive()), [], 'nothing in flight was acknowledged: no more room');
      rig.guest.send(VsockOp.CREDIT_UPDATE, GUEST_PORT, hostPort, { bufAlloc: 150, fwdCnt: 30 });
      assert.deepEqual(rw(rig.guest.receive()).map(([len]) => len), [30]);
    });

    it('5.10.6.3: credit comes with any packet on the connection, not only CREDIT_UPDATE', async () => {
      rig.guest.bufAlloc = 10;
      const { peer, hostPort } = await acceptFromHost(rig, GUEST_PORT);
      peer.socket.write('0123456789abcdefghij');
      await until(() => rig.backend.usage().maxHostPendingBytes === 10, 'ten bytes waiting for credit');
      assert.deepEqual(rw(rig.guest.receive()), [[10, '0123456789']]);
      rig.guest.send(VsockOp.RW, GUEST_PORT, hostPort, { payload: Buffer.from('x'), fwdCnt: 10 });
      assert.deepEqual(rw(rig.guest.receive()), [[10, 'abcdefghij']]);
    });

    it('5.10.6.3: the buf_alloc in the guest\'s REQUEST is its credit for data the host listener sends first', async () => {
      rig.guest.bufAlloc = 3;
      const { peer } = await connectFromGuest(rig, 1106, 2106);
      rig.guest.inbox.length = 0;
      peer.socket.write('abcdef');
      const data = await rig.guest.expect(VsockOp.RW, { guestPort: 1106 });
      assert.equal(data.payload.toString(), 'abc');
      await settle();
      assert.deepEqual(rw(rig.guest.pump()), [], 'the rest waits for credit');
    });

    it('5.10.6.3: a fwd_cnt ahead of what was sent counts as 2^32 - n bytes in flight: no credit', async () => {
      rig.guest.bufAlloc = 100;
      const { peer, hostPort } = await acceptFromHost(rig, GUEST_PORT);
      rig.guest.fwdCnt = 10;
      rig.guest.send(VsockOp.CREDIT_UPDATE, GUEST_PORT, hostPort);
      peer.socket.write('held back');
      await until(() => rig.backend.usage().maxHostPendingBytes === 9, 'the bytes pending');
      await settle();
      assert.deepEqual(rw(rig.guest.pump()), []);
      rig.guest.fwdCnt = 0;
      rig.guest.send(VsockOp.CREDIT_UPDATE, GUEST_PORT, hostPort);
      assert.deepEqual(rw(rig.guest.receive()), [[9, 'held back']]);
    });

  });

  describe('5.10.6.4: host -> guest into the receive buffers the guest offers', () => {
    beforeEach(async () => {
      // One 44-byte buffer: room for the REQUEST and nothing else; each test offers its own after.
      rig = await vsockRig({ rxBuffers: 1, rxSize: VSOCK_HEADER_SIZE });
    });

    it('5.10.6.4: each RW fills one receive buffer after its 44-byte header, in order', async () => {
      await acceptFromHost(rig, GUEST_PORT, 'abcdefghijklmnopqrstuvwxy', 0);
      assert.equal(rig.guest.rx.outstanding, 0);
      assert.equal(rig.backend.usage().maxHostPendingBytes, 25);
      rig.guest.postRx(3, VSOCK_HEADER_SIZE + 10);
      const packets = rig.guest.receive();
      assert.deepEqual(packets.map((p) => p.len), [54, 54, 49], 'used len is header plus payload');
      assert.deepEqual(rw(packets), [[10, 'abcdefghij'], [10, 'klmnopqrst'], [5, 'uvwxy']]);
      assert.deepEqual(packets.map((p) => p.header?.fwdCnt), [0, 0, 0]);
      assert.equal(rig.counters.get('toGuestBytes'), 25);
      assert.equal(rig.backend.usage().maxHostPendingBytes, 0);
    });

    it('5.10.6.4: pending chunks are joined into one RW, and a chunk is split where the buffer ends', async () => {
      const { peer } = await acceptFromHost(rig, GUEST_PORT, 'abc', 0);
      peer.socket.write('defgh');
      await until(() => rig.backend.usage().maxHostPendingBytes === 8, 'both chunks pending');
      rig.guest.postRx(1, VSOCK_HEADER_SIZE + 5);
      assert.deepEqual(rw(rig.guest.receive()), [[5, 'abcde']]);
      rig.guest.postRx(1, 4096);
      assert.deepEqual(rw(rig.guest.receive()), [[3, 'fgh']]);
      rig.guest.postRx(1, 4096);
      assert.deepEqual(rig.guest.receive(), [], 'nothing left to send');
    });

    it('5.10.6.4: a receive chain of several descriptors gets the header and payload across them', async () => {
      await acceptFromHost(rig, GUEST_PORT, 'x'.repeat(50), 0);
      rig.guest.postRxChain([20, 30, 100]);
      const [packet] = rig.guest.receive();
      assert.equal(packet?.len, VSOCK_HEADER_SIZE + 50);
      assert.equal(packet?.header?.op, VsockOp.RW);
      assert.equal(packet?.header?.len, 50);
      assert.equal(packet?.payload.toString(), 'x'.repeat(50));
    });

    it('a receive buffer smaller than a header is returned empty and the data waits for the next one', async () => {
      await acceptFromHost(rig, GUEST_PORT, 'kept', 0);
      rig.guest.postRxChain([VSOCK_HEADER_SIZE - 1]);
      const [small] = rig.guest.receive();
      assert.equal(small?.len, 0);
      assert.equal(rig.backend.usage().maxHostPendingBytes, 4);
      rig.guest.postRx(1, 4096);
      assert.deepEqual(rw(rig.guest.receive()), [[4, 'kept']]);
    });

    it('a control packet that does not fit its receive buffer is dropped: the buffer comes back empty and untouched', async () => {
      const { hostPort } = await acceptFromHost(rig, GUEST_PORT, '', 0);
      rig.guest.postRxChain([VSOCK_HEADER_SIZE - 4], false, 0xaa);
      rig.guest.send(VsockOp.CREDIT_REQUEST, GUEST_PORT, hostPort);
      const [packet] = rig.guest.receive();
      assert.equal(packet?.len, 0);
      assert.ok(Buffer.from(rig.memory.readBytes(packet?.buffers[0]?.address ?? 0, VSOCK_HEADER_SIZE - 4)).every((b) => b === 0xaa));
      rig.guest.postRx(1, 4096);
      assert.deepEqual(rig.guest.receive(), [], 'the CREDIT_UPDATE is not sent again');
    });
  });

  describe('5.10.6.3: guest -> host within the host\'s credit', () => {
    beforeEach(async () => {
      rig = await vsockRig();
    });

    const CHUNK = 64 * 1024;

    it(`5.10.6.3: the guest may leave ${VSOCK_BUF_ALLOC} bytes unforwarded; one byte more is a credit violation and resets the connection`, async () => {
      const { peer, response } = await connectFromGuest(rig, 1100, 2100);
      assert.equal(response.bufAlloc, VSOCK_BUF_ALLOC);
      for (let i = 0; i < VSOCK_BUF_ALLOC / CHUNK; i++) rig.guest.send(VsockOp.RW, 1100, 2100, { payload: Buffer.alloc(CHUNK, i) });
      assert.equal(rig.backend.usage().maxUnforwardedBytes, VSOCK_BUF_ALLOC, 'a full window handed to the host socket in one turn');
      assert.equal(rig.counters.get('creditViolations'), 0);
      await until(() => peer.data.length === VSOCK_BUF_ALLOC && rig.backend.usage().maxUnforwardedBytes === 0, 'the host to take the window');
      for (let i = 0; i < VSOCK_BUF_ALLOC / CHUNK; i++) rig.guest.send(VsockOp.RW, 1100, 2100, { payload: Buffer.alloc(CHUNK, i) });
      assert.equal(rig.counters.get('creditViolations'), 0);
      rig.guest.send(VsockOp.RW, 1100, 2100, { payload: Buffer.alloc(1) });
      assert.equal(rig.counters.get('creditViolations'), 1);
      assert.equal(rig.counters.get('resets'), 1);
      assert.equal(rig.counters.get('fromGuestBytes'), 2 * VSOCK_BUF_ALLOC, 'the violating byte is not forwarded');
      assert.equal(rig.counters.get('unforwardedPeak'), VSOCK_BUF_ALLOC);
      const rst = await rig.guest.expect(VsockOp.RST, { guestPort: 1100 });
      assert.equal(rst.header?.srcPort, 2100);
      assert.equal(rig.backend.usage().connections, 0);
      await until(() => peer.closed, 'the host socket to close');
    });

    it(`5.10.6.3: one RW of exactly ${VSOCK_BUF_ALLOC} bytes (the whole credit) is accepted`, async () => {
      const { peer } = await connectFromGuest(rig, 1104, 2104);
      const payload = Buffer.alloc(VSOCK_BUF_ALLOC, 0x5a);
      rig.guest.send(VsockOp.RW, 1104, 2104, { payload });
      await until(() => peer.data.length === VSOCK_BUF_ALLOC, 'the whole window at the host');
      assert.ok(peer.data.equals(payload));
      assert.equal(rig.counters.get('creditViolations'), 0);
      assert.deepEqual(rig.guest.pump().filter((p) => p.header?.op === VsockOp.RST), []);
    });

    it('5.10.6.3: no CREDIT_UPDATE for a connection the guest reset before the host took its bytes', async () => {
      const { peer } = await connectFromGuest(rig, 1105, 2105);
      rig.guest.send(VsockOp.RW, 1105, 2105, { payload: Buffer.alloc(VSOCK_BUF_ALLOC / 2) });
      rig.guest.send(VsockOp.RST, 1105, 2105);
      await until(() => peer.closed, 'the host socket to close');
      await settle();
      assert.deepEqual(rig.guest.pump(), []);
      assert.equal(rig.backend.usage().controlBacklog, 0);
    });

    it('5.10.6.3: CREDIT_UPDATE is sent by itself once half the window has been forwarded since the last fwd_cnt the guest saw', async () => {
      const { peer } = await connectFromGuest(rig, 1101, 2101);
      const half = VSOCK_BUF_ALLOC / 2;
      rig.guest.send(VsockOp.RW, 1101, 2101, { payload: Buffer.alloc(CHUNK) });
      rig.guest.send(VsockOp.RW, 1101, 2101, { payload: Buffer.alloc(half - CHUNK - 1) });
      await until(() => peer.data.length === half - 1 && rig.backend.usage().maxUnforwardedBytes === 0, 'the host to take them');
      await settle();
      assert.deepEqual(rig.guest.pump().map((p) => p.header?.op), [], 'no update one byte short of half the window');
      rig.guest.send(VsockOp.RW, 1101, 2101, { payload: Buffer.alloc(1) });
      const update = await rig.guest.expect(VsockOp.CREDIT_UPDATE, { guestPort: 1101 });
      assert.equal(update.header?.fwdCnt, half);
      assert.equal(update.header?.srcPort, 2101);
      assert.equal(update.header?.bufAlloc, VSOCK_BUF_ALLOC);
    });

    it('5.10.6.3: a CREDIT_UPDATE the guest asked for counts as telling it: the next one comes half a window later', async () => {
      const { peer } = await connectFromGuest(rig, 1102, 2102);
      rig.guest.send(VsockOp.RW, 1102, 2102, { payload: Buffer.alloc(100_000) });
      await until(() => rig.backend.usage().maxUnforwardedBytes === 0 && peer.data.length === 100_000, 'the host to take 100000 bytes');
      rig.guest.send(VsockOp.CREDIT_REQUEST, 1102, 2102);
      assert.deepEqual(rig.guest.pump().map((p) => [p.header?.op, p.header?.fwdCnt]), [[VsockOp.CREDIT_UPDATE, 100_000]]);
      rig.guest.send(VsockOp.RW, 1102, 2102, { payload: Buffer.alloc(100_000) });
      await until(() => rig.backend.usage().maxUnforwardedBytes === 0 && peer.data.length === 200_000, 'the host to take 200000 bytes');
      await settle();
      assert.deepEqual(rig.guest.pump(), [], '100000 bytes since the last update is less than half the window');
      rig.guest.inbox.length = 0;
      rig.guest.send(VsockOp.RW, 1102, 2102, { payload: Buffer.alloc(100_000 + VSOCK_BUF_ALLOC / 2 - 200_000) });
      const update = await rig.guest.expect(VsockOp.CREDIT_UPDATE, { guestPort: 1102 });
      assert.equal(update.header?.fwdCnt, 100_000 + VSOCK_BUF_ALLOC / 2);
    });

    it('5.10.6.3: an RW to the guest carries fwd_cnt too and counts as telling it', async () => {
      const { peer } = await connectFromGuest(rig, 1103, 2103);
      rig.guest.send(VsockOp.RW, 1103, 2103, { payload: Buffer.alloc(100_000) });
      await until(() => rig.backend.usage().maxUnforwardedBytes === 0 && peer.data.length === 100_000, 'the host to take 100000 bytes');
      peer.socket.write('reply');
      const data = await rig.guest.expect(VsockOp.RW, { guestPort: 1103 });
      assert.equal(data.header?.fwdCnt, 100_000);
      assert.equal(data.payload.toString(), 'reply');
      rig.guest.send(VsockOp.RW, 1103, 2103, { payload: Buffer.alloc(100_000) });
      await until(() => rig.backend.usage().maxUnforwardedBytes === 0 && peer.data.length === 200_000, 'the host to take 200000 bytes');
      await settle();
      assert.deepEqual(rig.guest.pump().filter((p) => p.header?.op === VsockOp.CREDIT_UPDATE), []);
    });
  });

  describe('bounds on what the host holds', () => {
    it(`a host socket is not read while ${VSOCK_HOST_PENDING_MAX} bytes wait for the guest's credit, and everything arrives once it has room`, async () => {
      rig = await vsockRig();
      rig.guest.bufAlloc = 0;
      const { peer, hostPort } = await acceptFromHost(rig, GUEST_PORT);
      const total = 1024 * 1024;
      const sent = Buffer.alloc(total);
      for (let i = 0; i < total; i++) sent[i] = (i * 7 + (i >> 12)) & 0xff;
      peer.socket.write(sent);
      await until(() => rig.counters.get('hostPendingPeak') >= VSOCK_HOST_PENDING_MAX, 'the pending bound');
      await settle(50);
      const held = rig.backend.usage().maxHostPendingBytes;
      assert.ok(held >= VSOCK_HOST_PENDING_MAX && held < VSOCK_HOST_PENDING_MAX + 64 * 1024, `held ${held} bytes`);
      assert.equal(rig.counters.get('toGuestBytes'), 0, 'no credit, no data');
      const chunks: Buffer[] = [];
      let got = 0;
      rig.guest.bufAlloc = 64 * 1024;
      await until(() => {
        for (const p of rig.guest.pump()) {
          if (p.header?.op !== VsockOp.RW) continue;
          chunks.push(Buffer.from(p.payload));
          got += p.payload.length;
        }
        rig.guest.fwdCnt = got;
        rig.guest.send(VsockOp.CREDIT_UPDATE, GUEST_PORT, hostPort);
        return got >= total;
      }, 'all of it at the guest');
      assert.ok(Buffer.concat(chunks).equals(sent), 'in order, byte for byte');
      assert.ok(rig.counters.get('hostPendingPeak') < VSOCK_HOST_PENDING_MAX + 64 * 1024);
    });

    it(`5.10.6.1: while ${VSOCK_CONTROL_BACKLOG} replies wait for receive buffers the tx queue is not served, and it is again once they go out`, async () => {
      rig = await vsockRig({ rxBuffers: 0 });
      for (let port = 0; port < VSOCK_CONTROL_BACKLOG; port++) rig.guest.send(VsockOp.REQUEST, port, 1, { dstCid: 7n, notify: false });
      rig.guest.kick();
      assert.equal(rig.guest.txUsed(), VSOCK_CONTROL_BACKLOG);
      assert.equal(rig.backend.usage().controlBacklog, VSOCK_CONTROL_BACKLOG);
      assert.equal(rig.counters.get('controlBacklogPeak'), VSOCK_CONTROL_BACKLOG);
      for (let port = 500; port < 503; port++) rig.guest.send(VsockOp.REQUEST, port, 1, { dstCid: 7n });
      assert.equal(rig.guest.txUsed(), VSOCK_CONTROL_BACKLOG, 'the three wait in the ring');

      const refused = rig.connectHost();
      await until(() => refused.connected, 'connect');
      refused.socket.write('CONNECT 9\n');
      await until(() => refused.ended, 'the refusal');
      assert.equal(refused.text(), '');
      assert.equal(rig.counters.get('refusedConnections'), 1);
      assert.equal(rig.backend.usage().connections, 0);

      rig.guest.postRx(10);
      const replies = rig.guest.receive();
      assert.deepEqual(replies.map((p) => [p.header?.op, p.header?.dstPort]), Array.from({ length: 10 }, (_, i) => [VsockOp.RST, i]), 'oldest first');
      assert.equal(rig.guest.txUsed(), VSOCK_CONTROL_BACKLOG + 3, 'the tx queue is served again');
      assert.equal(rig.backend.usage().controlBacklog, VSOCK_CONTROL_BACKLOG - 10 + 3);
      assert.equal(rig.counters.get('controlBacklogPeak'), VSOCK_CONTROL_BACKLOG);
    });

    it('5.10.6.1: a full backlog takes no more replies: a host socket closing then sends no RST', async () => {
      rig = await vsockRig();
      const { peer } = await acceptFromHost(rig, GUEST_PORT, '', 0);
      while (rig.guest.rx.outstanding > 0) {
        rig.guest.send(VsockOp.REQUEST, 1, 1, { dstCid: 7n });
        rig.guest.receive();
      }
      for (let port = 0; port < VSOCK_CONTROL_BACKLOG; port++) rig.guest.send(VsockOp.REQUEST, port, 1, { dstCid: 7n, notify: false });
      rig.guest.kick();
      assert.equal(rig.backend.usage().controlBacklog, VSOCK_CONTROL_BACKLOG);
      peer.socket.destroy();
      await until(() => rig.counters.get('resets') === 1, 'the host socket to close');
      assert.equal(rig.backend.usage().controlBacklog, VSOCK_CONTROL_BACKLOG);
      assert.equal(rig.counters.get('controlBacklogPeak'), VSOCK_CONTROL_BACKLOG);
    });

    it(`opens at most ${VSOCK_CONNECTS_PER_TURN} host connections per turn; the rest wait for the next turn, even if the guest notifies again`, async () => {
      rig = await vsockRig();
      const listener = await rig.listen(6000);
      const count = VSOCK_CONNECTS_PER_TURN + 4;
      for (let port = 1; port <= count; port++) rig.guest.send(VsockOp.REQUEST, port, 6000, { notify: false });
      rig.guest.kick();
      assert.equal(rig.guest.txUsed(), VSOCK_CONNECTS_PER_TURN);
      assert.equal(rig.counters.get('connections'), VSOCK_CONNECTS_PER_TURN);
      rig.guest.kick();
      assert.equal(rig.guest.txUsed(), VSOCK_CONNECTS_PER_TURN, 'a notify in between does not start another turn early');
      await until(() => rig.guest.txUsed() === count, 'the next turn');
      assert.equal(rig.counters.get('connections'), count);
      await until(() => {
        rig.guest.pump();
        return rig.guest.inbox.filter((p) => p.header?.op === VsockOp.RESPONSE).length === count;
      }, 'every RESPONSE');
      assert.deepEqual(rig.guest.inbox.map((p) => p.header?.dstPort).sort((a = 0, b = 0) => a - b), Array.from({ length: count }, (_, i) => i + 1));
      await until(() => listener.peers.length === count, 'every host connection accepted');
      assert.equal(rig.counters.get('openConnectionsPeak'), count);
    });

    it('pause() cancels the next turn\'s connects; resume() takes them', async () => {
      rig = await vsockRig();
      await rig.listen(6001);
      const count = VSOCK_CONNECTS_PER_TURN + 2;
      for (let port = 1; port <= count; port++) rig.guest.send(VsockOp.REQUEST, port, 6001, { notify: false });
      rig.guest.kick();
      assert.equal(rig.guest.txUsed(), VSOCK_CONNECTS_PER_TURN);
      rig.backend.pause();
      await settle();
      assert.equal(rig.guest.txUsed(), VSOCK_CONNECTS_PER_TURN);
      rig.backend.resume();
      assert.equal(rig.guest.txUsed(), count);
      assert.equal(rig.counters.get('connections'), count);
    });
  });
});
