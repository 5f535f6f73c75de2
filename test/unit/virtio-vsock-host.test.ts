// virtio-vsock's host side (Firecracker's hybrid Unix socket): a host program's `CONNECT <port>` line
// becomes a REQUEST to the guest, what it writes becomes RW packets, and its socket ending or closing
// becomes SHUTDOWN and RST (virtio 1.2, 5.10.6.5). Malformed lines are refused by closing the socket.
import { strict as assert } from 'node:assert';
import { DeviceStatus } from '../../lib/devices/virtio/transport/mmio-registers';
import { VSOCK_BUF_ALLOC } from '../../lib/devices/virtio/vsock/backend';
import { ShutdownFlag, VSOCK_HOST_CID, VSOCK_TYPE_STREAM, type VsockHeader, VsockOp } from '../../lib/devices/virtio/vsock/packet';
import { acceptFromHost, connectFromGuest, GUEST_CID, type HostPeer, settle, until, type VsockRig, vsockRig } from '../helpers/vsock-guest';

const FIRST_HOST_PORT = 0x40000000;

function fromHost(op: number, hostPort: number, guestPort: number, fields: Partial<VsockHeader> = {}): VsockHeader {
  return { srcCid: VSOCK_HOST_CID, dstCid: GUEST_CID, srcPort: hostPort, dstPort: guestPort, len: 0, type: VSOCK_TYPE_STREAM, op, flags: 0, bufAlloc: VSOCK_BUF_ALLOC, fwdCnt: 0, ...fields };
}

describe('virtio-vsock host side: CONNECT lines and host sockets', function () {
  this.timeout(20_000);
  let rig: VsockRig;

  afterEach(async () => {
    await rig.close();
  });

  /** Connects to the device's socket and writes `parts` one by one (letting each arrive alone). */
  async function hostWrites(...parts: string[]): Promise<HostPeer> {
    const peer = rig.connectHost();
    await until(() => peer.connected, 'the host program to connect');
    for (const part of parts) {
      peer.socket.write(part);
      await settle(5);
    }
    return peer;
  }

  describe('with the driver ready', () => {
    beforeEach(async () => {
      rig = await vsockRig();
    });

    it('5.10.6.5: `CONNECT <port>` becomes a REQUEST from host port 0x40000000 up, with the host\'s buf_alloc', async () => {
      await hostWrites('CONNECT 1234\n');
      const first = await rig.guest.expect(VsockOp.REQUEST, { guestPort: 1234 });
      assert.deepEqual(first.header, fromHost(VsockOp.REQUEST, FIRST_HOST_PORT, 1234));
      await hostWrites('CONNECT 1234\n');
      const second = await rig.guest.expect(VsockOp.REQUEST, { hostPort: FIRST_HOST_PORT + 1 });
      assert.deepEqual(second.header, fromHost(VsockOp.REQUEST, FIRST_HOST_PORT + 1, 1234));
      assert.equal(rig.counters.get('connections'), 2);
      assert.equal(rig.counters.get('openConnections'), 2);
      assert.equal(rig.backend.usage().connections, 2);
    });

    it('accepts a CRLF line ending and the largest port, 2^32 - 1', async () => {
      await hostWrites('CONNECT 4294967295\r\n');
      const request = await rig.guest.expect(VsockOp.REQUEST);
      assert.equal(request.header?.dstPort, 0xffffffff);
    });

    it('puts a CONNECT line written in pieces together', async () => {
      await hostWrites('CONN', 'ECT 7', '7\n');
      const request = await rig.guest.expect(VsockOp.REQUEST);
      assert.equal(request.header?.dstPort, 77);
    });

    it('keeps up to 64 bytes of a line waiting for its newline; more closes the socket', async () => {
      const patient = await hostWrites(`CONNECT ${'0'.repeat(56)}`);
      const long = await hostWrites('C'.repeat(65));
      await until(() => long.closed, 'the over-long line to close its socket');
      assert.equal(long.text(), '');
      assert.equal(patient.closed, false, 'exactly 64 bytes are still a line in progress');
      patient.socket.write('3\n');
      const request = await rig.guest.expect(VsockOp.REQUEST);
      assert.equal(request.header?.dstPort, 3);
      assert.equal(rig.counters.get('connections'), 1);
    });

    for (const line of ['CONNECT 4294967296\n', 'CONNECT\n', 'CONNECT x\n', 'connect 5\n', ' CONNECT 5\n', 'CONNECT 5 \n', 'CONNECT -1\n', 'CONNECT 1.5\n', 'CONNECT 5\r\r\n', '\n']) {
      it(`refuses ${JSON.stringify(line)}: the socket is ended unanswered and the guest hears nothing`, async () => {
        const peer = await hostWrites(line);
        await until(() => peer.ended, 'the refusal');
        assert.equal(peer.text(), '');
        assert.equal(rig.counters.get('refusedConnections'), 1);
        assert.equal(rig.counters.get('connections'), 0);
        assert.deepEqual(rig.guest.pump(), []);
        assert.equal(rig.backend.usage().connections, 0);
      });
    }

    it('bytes after the CONNECT line, in the same write or later, reach the guest once it accepts, in order', async () => {
      const peer = rig.connectHost();
      await until(() => peer.connected, 'connect');
      peer.socket.write('CONNECT 40\nearly\n');
      const request = (await rig.guest.expect(VsockOp.REQUEST, { guestPort: 40 })).header as VsockHeader;
      peer.socket.write('and\nlater\n');
      await settle();
      assert.deepEqual(rig.guest.pump().filter((p) => p.header?.op === VsockOp.RW), [], 'nothing before RESPONSE');
      assert.equal(rig.backend.usage().maxHostPendingBytes, 6, 'the socket is not read until the guest accepts');
      rig.guest.send(VsockOp.RESPONSE, 40, request.srcPort);
      let text = '';
      await until(() => {
        for (const p of rig.guest.pump()) if (p.header?.op === VsockOp.RW) text += p.payload.toString();
        return text.length >= 16;
      }, 'the data at the guest');
      assert.equal(text, 'early\nand\nlater\n');
      assert.equal(peer.text(), `OK ${request.srcPort}\n`);
      assert.equal(rig.counters.get('toGuestBytes'), 16);
      assert.equal(rig.counters.get('refusedConnections'), 0, 'lines after the CONNECT line are data, not more CONNECT lines');
      assert.equal(peer.ended, false);
    });

    it('5.10.6.4: what the host program writes reaches the guest as RW from its host port', async () => {
      const { peer, hostPort } = await acceptFromHost(rig, 41);
      rig.guest.inbox.length = 0;
      peer.socket.write('hello guest');
      const data = await rig.guest.expect(VsockOp.RW, { guestPort: 41 });
      assert.deepEqual(data.header, fromHost(VsockOp.RW, hostPort, 41, { len: 11 }));
      assert.equal(data.payload.toString(), 'hello guest');
      rig.guest.send(VsockOp.RW, 41, hostPort, { payload: Buffer.from('hello host') });
      await until(() => peer.text().endsWith('hello host'), 'the answer at the host program');
    });

    it('5.10.6.5: the host program ending its side sends SHUTDOWN (RECEIVE | SEND), then RST once the socket closes', async () => {
      const { peer, hostPort } = await acceptFromHost(rig, 42);
      rig.guest.inbox.length = 0;
      peer.socket.end();
      const rst = await rig.guest.expect(VsockOp.RST, { guestPort: 42 });
      assert.deepEqual(rst.header, fromHost(VsockOp.RST, hostPort, 42));
      const ops = rig.guest.inbox.map((p) => p.header);
      assert.deepEqual(ops, [fromHost(VsockOp.SHUTDOWN, hostPort, 42, { flags: ShutdownFlag.RECEIVE | ShutdownFlag.SEND }), fromHost(VsockOp.RST, hostPort, 42)]);
      assert.equal(rig.counters.get('resets'), 1);
      assert.equal(rig.counters.get('openConnections'), 0);
      assert.equal(rig.counters.get('openConnectionsPeak'), 1);
      assert.equal(rig.backend.usage().connections, 0);
    });

    it('5.10.6.5: a host listener closing a guest\'s connection sends SHUTDOWN and RST', async () => {
      const { peer } = await connectFromGuest(rig, 43, 2043);
      rig.guest.inbox.length = 0;
      peer.socket.destroy();
      await rig.guest.expect(VsockOp.RST, { guestPort: 43, hostPort: 2043 });
      assert.deepEqual(rig.guest.inbox.map((p) => p.header?.op), [VsockOp.SHUTDOWN, VsockOp.RST]);
      assert.equal(rig.backend.usage().connections, 0);
    });

    it('a host program that goes away before the guest answers is reset, and the late RESPONSE gets RST', async () => {
      const peer = await hostWrites('CONNECT 44\n');
      const request = (await rig.guest.expect(VsockOp.REQUEST, { guestPort: 44 })).header as VsockHeader;
      peer.socket.destroy();
      await rig.guest.expect(VsockOp.RST, { guestPort: 44 });
      assert.equal(rig.backend.usage().connections, 0);
      rig.guest.inbox.length = 0;
      rig.guest.send(VsockOp.RESPONSE, 44, request.srcPort);
      assert.deepEqual(rig.guest.receive().map((p) => p.header), [fromHost(VsockOp.RST, request.srcPort, 44)]);
    });
  });

  it('refuses CONNECT while the driver has not set the device up (no receive queue yet)', async () => {
    rig = await vsockRig({ activate: false });
    rig.backend.activate(); // before DRIVER_OK: takes no queue, and does not fail
    assert.equal(rig.transport.status & DeviceStatus.DEVICE_NEEDS_RESET, 0);
    const peer = await hostWrites('CONNECT 45\n');
    await until(() => peer.ended, 'the refusal');
    assert.equal(peer.text(), '');
    assert.equal(rig.counters.get('refusedConnections'), 1);
    assert.equal(rig.backend.usage().connections, 0);
  });
});
