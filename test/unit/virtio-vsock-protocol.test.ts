// virtio-vsock packets from the guest, op by op (virtio 1.2, 5.10.6): what the device answers on the
// receive queue (header field by field), what reaches the host side, and what it refuses (wrong
// addresses or type, malformed packets, ops for connections that do not exist).
import { strict as assert } from 'node:assert';
import { VSOCK_BUF_ALLOC } from '../../lib/devices/virtio/vsock/backend';
import { encodeVsockHeader, ShutdownFlag, VSOCK_HEADER_SIZE, VSOCK_HOST_CID, VSOCK_TYPE_STREAM, type VsockHeader, VsockOp } from '../../lib/devices/virtio/vsock/packet';
import { acceptFromHost, connectFromGuest, GUEST_CID, settle, until, type VsockRig, vsockRig } from '../helpers/vsock-guest';

/** The header-only reply the device sends from host port `hostPort` to guest port `guestPort`. */
function reply(op: number, hostPort: number, guestPort: number, fwdCnt = 0): VsockHeader {
  return { srcCid: VSOCK_HOST_CID, dstCid: GUEST_CID, srcPort: hostPort, dstPort: guestPort, len: 0, type: VSOCK_TYPE_STREAM, op, flags: 0, bufAlloc: VSOCK_BUF_ALLOC, fwdCnt };
}

describe('virtio-vsock protocol: packets from the guest', function () {
  this.timeout(20_000);
  let rig: VsockRig;

  beforeEach(async () => {
    rig = await vsockRig();
  });
  afterEach(async () => {
    await rig.close();
  });

  /** Sends one packet and returns what the device put in the receive queue right away (it answers synchronously). */
  function exchange(op: number, srcPort: number, dstPort: number, fields: Partial<VsockHeader> & { payload?: Uint8Array } = {}): (VsockHeader | undefined)[] {
    const before = rig.guest.txUsed();
    rig.guest.send(op, srcPort, dstPort, fields);
    assert.equal(rig.guest.txUsed(), before + 1, 'the device returned the tx chain');
    assert.equal(rig.guest.txReturned.at(-1)?.len, 0, 'a tx chain is returned with used len 0 (the device writes nothing into it)');
    return rig.guest.receive().map((p) => p.header);
  }

  describe('5.10.6.2: addressing', () => {
    it('5.10.6.2: a packet to a CID other than the host (2) is answered with RST from the addressed port', () => {
      assert.deepEqual(exchange(VsockOp.REQUEST, 1000, 2000, { dstCid: 5n }), [reply(VsockOp.RST, 2000, 1000)]);
      assert.equal(rig.backend.usage().connections, 0);
    });

    it('5.10.6.2: a packet whose source CID is not the guest\'s is answered with RST', () => {
      assert.deepEqual(exchange(VsockOp.REQUEST, 1001, 2001, { srcCid: 4n }), [reply(VsockOp.RST, 2001, 1001)]);
      assert.deepEqual(exchange(VsockOp.REQUEST, 1001, 2001, { srcCid: VSOCK_HOST_CID }), [reply(VsockOp.RST, 2001, 1001)]);
    });

    it('5.10.6.5: a socket type other than stream (1) is answered with RST', () => {
      assert.deepEqual(exchange(VsockOp.REQUEST, 1002, 2002, { type: 2 }), [reply(VsockOp.RST, 2002, 1002)]);
      assert.deepEqual(exchange(VsockOp.REQUEST, 1002, 2002, { type: 0 }), [reply(VsockOp.RST, 2002, 1002)]);
    });

    it('5.10.6.5: a misaddressed RST gets no RST back (no reply loops)', () => {
      assert.deepEqual(exchange(VsockOp.RST, 1003, 2003, { dstCid: 9n }), []);
      assert.deepEqual(exchange(VsockOp.RST, 1003, 2003, { type: 2 }), []);
      assert.deepEqual(exchange(VsockOp.RST, 1003, 2003, { srcCid: 8n }), []);
    });
  });

  describe('malformed packets', () => {
    it('a tx chain shorter than the 44-byte header is returned unanswered', () => {
      const header = encodeVsockHeader(rig.guest.header(VsockOp.REQUEST, 1, 2));
      rig.guest.sendRaw([header.subarray(0, VSOCK_HEADER_SIZE - 1)]);
      rig.guest.sendRaw([Buffer.alloc(1)]);
      assert.equal(rig.guest.txUsed(), 2);
      assert.deepEqual(rig.guest.txReturned.map((t) => t.len), [0, 0]);
      assert.deepEqual(rig.guest.receive(), []);
      assert.equal(rig.backend.usage().connections, 0);
    });

    it('a header whose len runs past the chain is answered with RST', () => {
      const header = encodeVsockHeader(rig.guest.header(VsockOp.RW, 1010, 2010, { len: 51 }));
      rig.guest.sendRaw([Buffer.concat([header, Buffer.alloc(50)])]);
      assert.deepEqual(rig.guest.receive().map((p) => p.header), [reply(VsockOp.RST, 2010, 1010)]);
    });

    it(`a header whose len is over the ${VSOCK_BUF_ALLOC}-byte window is answered with RST (even with the bytes there)`, () => {
      const header = encodeVsockHeader(rig.guest.header(VsockOp.RW, 1011, 2011, { len: VSOCK_BUF_ALLOC + 1 }));
      rig.guest.sendRaw([Buffer.concat([header, Buffer.alloc(VSOCK_BUF_ALLOC + 1)])]);
      assert.deepEqual(rig.guest.receive().map((p) => p.header), [reply(VsockOp.RST, 2011, 1011)]);
    });

    it('5.10.6.5: a malformed packet on a live connection is answered with RST and ends the connection on the host side too', async () => {
      const { peer } = await connectFromGuest(rig, 1014, 2014);
      const header = encodeVsockHeader(rig.guest.header(VsockOp.RW, 1014, 2014, { len: 20 }));
      rig.guest.sendRaw([Buffer.concat([header, Buffer.alloc(10)])]);
      assert.deepEqual(rig.guest.receive().map((p) => p.header), [reply(VsockOp.RST, 2014, 1014)]);
      assert.equal(rig.backend.usage().connections, 0);
      await until(() => peer.closed, 'the host socket to close');
      await settle();
      assert.deepEqual(rig.guest.receive(), [], 'one RST only');
    });

    it(`5.10.6.3: an RW over the ${VSOCK_BUF_ALLOC}-byte window on a live connection forwards nothing and ends the connection`, async () => {
      const { peer } = await connectFromGuest(rig, 1015, 2015);
      const header = encodeVsockHeader(rig.guest.header(VsockOp.RW, 1015, 2015, { len: VSOCK_BUF_ALLOC + 1 }));
      rig.guest.sendRaw([Buffer.concat([header, Buffer.alloc(VSOCK_BUF_ALLOC + 1)])]);
      assert.deepEqual(rig.guest.receive().map((p) => p.header), [reply(VsockOp.RST, 2015, 1015)]);
      assert.equal(rig.counters.get('fromGuestBytes'), 0);
      assert.equal(rig.counters.get('creditViolations'), 0, 'refused as malformed, before any credit accounting');
      await until(() => peer.closed, 'the host socket to close');
      assert.equal(peer.data.length, 0);
    });

    it('an op the spec does not define is answered with RST', () => {
      for (const op of [0, 8, 0xffff]) assert.deepEqual(exchange(op, 1012, 2012), [reply(VsockOp.RST, 2012, 1012)], `op ${op}`);
    });

    it('a packet split across descriptors anywhere (even inside the header) is read whole', async () => {
      const { peer } = await connectFromGuest(rig, 1013, 2013);
      const payload = Buffer.from('split across three descriptors');
      const packet = Buffer.concat([encodeVsockHeader(rig.guest.header(VsockOp.RW, 1013, 2013, { len: payload.length })), payload]);
      rig.guest.sendRaw([packet.subarray(0, 10), packet.subarray(10, 50), packet.subarray(50)]);
      await until(() => peer.data.length >= payload.length, 'the payload at the host');
      assert.equal(peer.text(), payload.toString());
      assert.equal(rig.counters.get('fromGuestBytes'), payload.length);
    });
  });

  describe('5.10.6.5: REQUEST and RESPONSE', () => {
    it('5.10.6.5: a REQUEST to a host port with a listener is answered with RESPONSE and counted', async () => {
      const { response } = await connectFromGuest(rig, 1020, 2020);
      assert.deepEqual(response, reply(VsockOp.RESPONSE, 2020, 1020));
      assert.equal(rig.counters.get('connections'), 1);
      assert.equal(rig.counters.get('openConnections'), 1);
      assert.equal(rig.counters.get('openConnectionsPeak'), 1);
      assert.equal(rig.backend.usage().connections, 1);
      assert.deepEqual(rig.backend.saveState(), { connections: 1 });
    });

    it('5.10.6.5: a REQUEST to a host port nobody listens on is answered with RST', async () => {
      rig.guest.send(VsockOp.REQUEST, 1021, 2021);
      const rst = await rig.guest.expect(VsockOp.RST, { guestPort: 1021 });
      assert.deepEqual(rst.header, reply(VsockOp.RST, 2021, 1021));
      assert.equal(rig.counters.get('resets'), 1);
      assert.equal(rig.counters.get('openConnections'), 0);
      assert.equal(rig.backend.usage().connections, 0);
    });

    it('5.10.6.5: a guest that resets its REQUEST before the host side connects gets no RESPONSE', async () => {
      const listener = await rig.listen(2025);
      rig.guest.send(VsockOp.REQUEST, 1026, 2025);
      rig.guest.send(VsockOp.RST, 1026, 2025);
      assert.equal(rig.backend.usage().connections, 0);
      await settle();
      assert.deepEqual(rig.guest.pump(), []);
      assert.ok(listener.peers.every((peer) => peer.closed || peer.ended));
    });

    it('5.10.6.5: a second REQUEST for a live connection is answered with RST and the connection stays', async () => {
      const { peer } = await connectFromGuest(rig, 1022, 2022);
      assert.deepEqual(exchange(VsockOp.REQUEST, 1022, 2022), [reply(VsockOp.RST, 2022, 1022)]);
      assert.equal(rig.counters.get('refusedConnections'), 0, 'not a refusal for lack of room');
      assert.equal(rig.backend.usage().connections, 1);
      rig.guest.send(VsockOp.RW, 1022, 2022, { payload: Buffer.from('still here') });
      await until(() => peer.text() === 'still here', 'data on the first connection');
    });

    it('5.10.6.5: RESPONSE for a connection the host did not ask for is answered with RST', async () => {
      assert.deepEqual(exchange(VsockOp.RESPONSE, 1023, 2023), [reply(VsockOp.RST, 2023, 1023)]);
      await connectFromGuest(rig, 1024, 2024);
      assert.deepEqual(exchange(VsockOp.RESPONSE, 1024, 2024), [reply(VsockOp.RST, 2024, 1024)], 'the guest initiated this one');
      assert.equal(rig.backend.usage().connections, 1);
    });

    it('5.10.6.5: RESPONSE to a host REQUEST answers the host program `OK <port>`; a second RESPONSE gets RST', async () => {
      const { peer, hostPort } = await acceptFromHost(rig, 1025);
      assert.equal(peer.text(), `OK ${hostPort}\n`);
      assert.deepEqual(exchange(VsockOp.RESPONSE, 1025, hostPort), [reply(VsockOp.RST, hostPort, 1025)]);
      await settle();
      assert.equal(peer.text(), `OK ${hostPort}\n`, 'one OK line only');
    });
  });

  describe('5.10.6.4: RW', () => {
    it('5.10.6.4: RW on a connection reaches the host listener byte for byte and is counted', async () => {
      const { peer } = await connectFromGuest(rig, 1030, 2030);
      rig.guest.send(VsockOp.RW, 1030, 2030, { payload: Buffer.from('abc') });
      rig.guest.send(VsockOp.RW, 1030, 2030, { payload: Buffer.from('defg') });
      await until(() => peer.data.length >= 7, 'the bytes at the host');
      assert.equal(peer.text(), 'abcdefg');
      assert.equal(rig.counters.get('fromGuestBytes'), 7);
      assert.equal(rig.counters.get('unforwardedPeak'), 7, 'both packets handed over in one turn, before either write completed');
      await until(() => rig.backend.usage().maxUnforwardedBytes === 0, 'the host socket to take the bytes');
      assert.deepEqual(rig.guest.receive(), [], 'no reply to RW');
    });

    it('5.10.6.4: RW for an unknown connection is answered with RST', () => {
      assert.deepEqual(exchange(VsockOp.RW, 1031, 2031, { payload: Buffer.from('x') }), [reply(VsockOp.RST, 2031, 1031)]);
      assert.equal(rig.counters.get('fromGuestBytes'), 0);
    });

    it('5.10.6.4: RW on a host-initiated connection before the guest\'s RESPONSE is answered with RST', async () => {
      const peer = rig.connectHost();
      await until(() => peer.connected, 'connect');
      peer.socket.write('CONNECT 1032\n');
      const request = (await rig.guest.expect(VsockOp.REQUEST, { guestPort: 1032 })).header as VsockHeader;
      assert.deepEqual(exchange(VsockOp.RW, 1032, request.srcPort, { payload: Buffer.from('early') }), [reply(VsockOp.RST, request.srcPort, 1032)]);
      await settle();
      assert.equal(peer.text(), '', 'neither OK nor data reached the host program');
    });
  });

  describe('5.10.6.3: CREDIT_REQUEST and CREDIT_UPDATE', () => {
    it('5.10.6.3: CREDIT_REQUEST is answered with CREDIT_UPDATE carrying buf_alloc and the bytes the host took (fwd_cnt)', async () => {
      const { peer } = await connectFromGuest(rig, 1040, 2040);
      rig.guest.send(VsockOp.RW, 1040, 2040, { payload: Buffer.alloc(300, 1) });
      await until(() => peer.data.length === 300 && rig.backend.usage().maxUnforwardedBytes === 0, 'the host to take 300 bytes');
      assert.deepEqual(exchange(VsockOp.CREDIT_REQUEST, 1040, 2040), [reply(VsockOp.CREDIT_UPDATE, 2040, 1040, 300)]);
    });

    it('5.10.6.3: CREDIT_REQUEST and CREDIT_UPDATE for unknown connections get no reply', () => {
      assert.deepEqual(exchange(VsockOp.CREDIT_REQUEST, 1041, 2041), []);
      assert.deepEqual(exchange(VsockOp.CREDIT_UPDATE, 1041, 2041), []);
    });

    it('5.10.6.3: CREDIT_UPDATE on a connection gets no reply', async () => {
      await connectFromGuest(rig, 1042, 2042);
      assert.deepEqual(exchange(VsockOp.CREDIT_UPDATE, 1042, 2042), []);
      assert.equal(rig.backend.usage().connections, 1);
    });
  });

  describe('5.10.6.5: SHUTDOWN and RST', () => {
    for (const flags of [ShutdownFlag.RECEIVE, ShutdownFlag.SEND, ShutdownFlag.RECEIVE | ShutdownFlag.SEND]) {
      it(`5.10.6.5: SHUTDOWN with flags ${flags} ends the host socket and is answered with RST`, async () => {
        const { peer } = await connectFromGuest(rig, 1050 + flags, 2050);
        rig.guest.send(VsockOp.RW, 1050 + flags, 2050, { payload: Buffer.from('last words') });
        assert.deepEqual(exchange(VsockOp.SHUTDOWN, 1050 + flags, 2050, { flags }), [reply(VsockOp.RST, 2050, 1050 + flags)]);
        await until(() => peer.ended || peer.closed, 'the host socket to end');
        assert.equal(peer.text(), 'last words', 'what the guest sent before SHUTDOWN reached the host');
        assert.equal(rig.counters.get('resets'), 1);
        assert.equal(rig.counters.get('openConnections'), 0);
        assert.equal(rig.backend.usage().connections, 0);
        assert.deepEqual(exchange(VsockOp.RW, 1050 + flags, 2050, { payload: Buffer.from('x') }), [reply(VsockOp.RST, 2050, 1050 + flags)], 'the connection is gone');
      });
    }

    it('5.10.6.5: SHUTDOWN for an unknown connection gets no reply', () => {
      assert.deepEqual(exchange(VsockOp.SHUTDOWN, 1054, 2054, { flags: 3 }), []);
      assert.equal(rig.counters.get('resets'), 0);
    });

    it('5.10.6.5: RST from the guest closes the host socket without a reply; RST for nothing is ignored', async () => {
      const { peer } = await connectFromGuest(rig, 1055, 2055);
      assert.deepEqual(exchange(VsockOp.RST, 1055, 2055), []);
      await until(() => peer.closed, 'the host socket to close');
      assert.equal(rig.backend.usage().connections, 0);
      assert.equal(rig.counters.get('openConnections'), 0);
      assert.equal(rig.counters.get('resets'), 0, 'the guest reset it: not counted as a host-side reset');
      await settle();
      assert.deepEqual(rig.guest.receive(), [], 'no RST comes back when the host socket closes');
      assert.deepEqual(exchange(VsockOp.RST, 1056, 2056), []);
    });
  });
});
