// virtio-vsock's connection limit: at most VSOCK_MAX_CONNECTIONS at once, both directions together;
// a REQUEST beyond it is answered with RST, a host program beyond it has its socket closed, and a slot
// freed is usable again.
import { strict as assert } from 'node:assert';
import { VSOCK_MAX_CONNECTIONS } from '../../lib/devices/virtio/vsock/backend';
import { VsockOp } from '../../lib/devices/virtio/vsock/packet';
import { type HostListener, type HostPeer, RING_SIZE, settle, until, type VsockRig, vsockRig } from '../helpers/vsock-guest';

const HOST_PORT = 7000;

describe(`virtio-vsock connection limit (${VSOCK_MAX_CONNECTIONS})`, function () {
  this.timeout(30_000);
  let rig: VsockRig;
  let listener: HostListener;

  beforeEach(async () => {
    rig = await vsockRig({ rxBuffers: 64 });
    listener = await rig.listen(HOST_PORT);
  });
  afterEach(async () => {
    await rig.close();
  });

  /** Opens guest connections from guest ports 1..count to the listener. */
  async function fill(count: number): Promise<void> {
    let next = 1;
    let responses = 0;
    let resets = 0;
    await until(() => {
      rig.guest.txUsed();
      // Paced by what the listener accepted: its listen backlog is finite too.
      while (next <= count && rig.guest.tx.outstanding < RING_SIZE && next - listener.peers.length < 128) rig.guest.send(VsockOp.REQUEST, next++, HOST_PORT, { notify: false });
      rig.guest.kick();
      for (const p of rig.guest.pump()) {
        if (p.header?.op === VsockOp.RESPONSE) responses++;
        if (p.header?.op === VsockOp.RST) resets++;
      }
      return responses === count || resets > 0;
    }, `${count} RESPONSEs`, 20_000);
    assert.equal(resets, 0, `${resets} RSTs after ${responses} RESPONSEs (counters ${JSON.stringify(rig.counters.read())})`);
    rig.guest.inbox.length = 0;
  }

  it(`5.10.6.5: REQUEST number ${VSOCK_MAX_CONNECTIONS + 1} is answered with RST and counted as refused; a freed slot is usable again`, async () => {
    await fill(VSOCK_MAX_CONNECTIONS);
    assert.equal(rig.backend.usage().connections, VSOCK_MAX_CONNECTIONS);
    assert.equal(rig.counters.get('openConnectionsPeak'), VSOCK_MAX_CONNECTIONS);
    rig.guest.send(VsockOp.REQUEST, 5000, HOST_PORT);
    assert.deepEqual(rig.guest.pump().map((p) => [p.header?.op, p.header?.dstPort]), [[VsockOp.RST, 5000]]);
    assert.equal(rig.counters.get('refusedConnections'), 1);
    assert.equal(rig.backend.usage().connections, VSOCK_MAX_CONNECTIONS);

    const refused = rig.connectHost();
    await until(() => refused.closed, 'the host program to be turned away');
    assert.equal(refused.text(), '');
    assert.equal(rig.counters.get('refusedConnections'), 2);

    rig.guest.send(VsockOp.RST, 1, HOST_PORT);
    assert.equal(rig.backend.usage().connections, VSOCK_MAX_CONNECTIONS - 1);
    rig.guest.send(VsockOp.REQUEST, 5001, HOST_PORT);
    await rig.guest.expect(VsockOp.RESPONSE, { guestPort: 5001 });
    assert.equal(rig.counters.get('refusedConnections'), 2);
    assert.equal(rig.counters.get('connections'), VSOCK_MAX_CONNECTIONS + 1);
  });

  it('a host program accepted with a slot free is refused at its CONNECT line if the guest took the last one meanwhile', async () => {
    await fill(VSOCK_MAX_CONNECTIONS - 1);
    const late: HostPeer = rig.connectHost();
    await until(() => late.connected, 'the host program to connect');
    await until(() => listener.peers.length === VSOCK_MAX_CONNECTIONS - 1, 'the listener to accept them all');
    await settle(); // the device's server takes the late connection while a slot is free
    rig.guest.send(VsockOp.REQUEST, 6000, HOST_PORT);
    await rig.guest.expect(VsockOp.RESPONSE, { guestPort: 6000 });
    late.socket.write('CONNECT 80\n');
    await until(() => late.ended, 'the refusal');
    assert.equal(late.text(), '');
    assert.equal(rig.counters.get('refusedConnections'), 1);
    assert.deepEqual(rig.guest.pump().filter((p) => p.header?.op === VsockOp.REQUEST), []);
  });
});
