// virtio devices driven by a guest over real KVM: test/guests/virtio-driver.S negotiates, sets up
// queue 0, makes the chains the test laid out available and notifies; the notify reaches the back end
// through its ioeventfd, the back end answers through the used ring and raises the interrupt status.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BLK_COUNTERS, VirtioBlkBackend } from '../../lib/devices/virtio/blk/backend';
import { BlkFeature, blkDescription } from '../../lib/devices/virtio/blk/device';
import { BlockFile } from '../../lib/devices/virtio/blk/file';
import { BlkRequestType } from '../../lib/devices/virtio/blk/request';
import { InterruptBit, VirtioFeature } from '../../lib/devices/virtio/transport/mmio-registers';
import { VirtioRngBackend } from '../../lib/devices/virtio/rng/backend';
import { rngDescription } from '../../lib/devices/virtio/rng/device';
import { requireKvm } from '../helpers/kvm';
import { runVirtioGuest } from '../helpers/virtio-guest';

const BUFFERS = 0x300000;
const VERSION_1 = 1n << VirtioFeature.VERSION_1;

describe('virtio devices driven by a guest (real KVM)', function () {
  before(function () {
    requireKvm(this);
  });

  it('virtio-rng: random bytes, used-buffer interrupt, the notify through the ioeventfd', async function () {
    this.timeout(60_000);
    let backend: VirtioRngBackend | undefined;
    const result = await runVirtioGuest({
      device: { device: rngDescription(), backend: (context) => (backend = new VirtioRngBackend(context)) },
      features: VERSION_1,
      layOut: (queue) => [queue.writeChain(0, [{ address: BUFFERS, length: 64, writable: true }])],
      read: [[BUFFERS, 64]],
    });
    const bytes = result.memory.get(BUFFERS) ?? new Uint8Array(0);
    assert.equal(result.exit.reason, 'exited', result.exit.error?.message);
    assert.equal(result.exit.status, InterruptBit.USED_BUFFER);
    assert.ok(new Set(bytes).size > 16, 'random bytes, not a constant');
    assert.equal(backend?.served, 64);
    assert.equal(result.device.transport.registerNotifications, 0, 'no register exit for the notify');
  });

  it('virtio-blk: a write, a flush and a read through the guest, checked on the host file', async function () {
    this.timeout(60_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'virtio-blk-kvm-'));
    const diskPath = path.join(dir, 'disk.img');
    const disk = Buffer.alloc(16 * 512);
    disk.fill(0x11, 5 * 512, 6 * 512);
    fs.writeFileSync(diskPath, disk);
    const file = new BlockFile(diskPath);
    const written = Buffer.alloc(512, 0x77);
    written.write('from the guest', 0);
    try {
      const header = (type: number, sector: number): Buffer => {
        const h = Buffer.alloc(16);
        h.writeUInt32LE(type, 0);
        h.writeBigUInt64LE(BigInt(sector), 8);
        return h;
      };
      const result = await runVirtioGuest({
        device: { device: blkDescription(file), backend: (context) => new VirtioBlkBackend(context, file), counters: BLK_COUNTERS },
        features: VERSION_1 | (1n << BlkFeature.FLUSH),
        layOut: (queue) => {
        const m = queue.memory;
        m.writeBytes(BUFFERS, header(BlkRequestType.OUT, 2));
        m.writeBytes(BUFFERS + 0x100, written);
        m.writeBytes(BUFFERS + 0x400, header(BlkRequestType.FLUSH, 0));
        m.writeBytes(BUFFERS + 0x800, header(BlkRequestType.IN, 5));
        const status = BUFFERS + 0x2000;
        return [
          queue.writeChain(0, [{ address: BUFFERS, length: 16, writable: false }, { address: BUFFERS + 0x100, length: 512, writable: false }, { address: status, length: 1, writable: true }]),
          queue.writeChain(3, [{ address: BUFFERS + 0x400, length: 16, writable: false }, { address: status + 1, length: 1, writable: true }]),
          queue.writeChain(5, [{ address: BUFFERS + 0x800, length: 16, writable: false }, { address: BUFFERS + 0x1000, length: 512, writable: true }, { address: status + 2, length: 1, writable: true }]),
        ];
        },
        read: [[BUFFERS + 0x1000, 512]],
      });
      const readBack = result.memory.get(BUFFERS + 0x1000) ?? new Uint8Array(0);
      assert.equal(result.exit.reason, 'exited', result.exit.error?.message);
      assert.equal(result.exit.status, InterruptBit.USED_BUFFER);
      const counters = result.device.counters?.read();
      assert.deepEqual([counters?.ok, counters?.ioerr, counters?.unsupp], [3, 0, 0]);
      assert.equal(counters?.writeBytes, 512);
      assert.equal(counters?.readBytes, 512);
      assert.deepEqual(fs.readFileSync(diskPath).subarray(2 * 512, 3 * 512), written, 'the guest write is on the host file');
      assert.deepEqual(Buffer.from(readBack), Buffer.alloc(512, 0x11), 'the guest read the host file');
      assert.equal(result.device.transport.registerNotifications, 0);
    } finally {
      file.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
