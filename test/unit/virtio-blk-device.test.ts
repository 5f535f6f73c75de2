// virtio-blk as a machine device: the feature bits and config space it describes (virtio 1.2,
// 5.2.3-5.2.4), the host file it opens (BlockFile), its options and its claim on a writable file,
// and GET_ID and the claim across a swap of the backing file.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BLK_COUNTERS } from '../../lib/devices/virtio/blk/backend';
import { BLK_QUEUE_SIZE, blkDescription, BlkFeature, VirtioBlkDevice } from '../../lib/devices/virtio/blk/device';
import { BLK_ID_BYTES, BlockFile } from '../../lib/devices/virtio/blk/file';
import { BLK_HEADER_SIZE, BlkRequestType, BlkStatus } from '../../lib/devices/virtio/blk/request';
import { DeviceStatus, VIRTIO_MMIO_WINDOW, VirtioDeviceId, VirtioFeature } from '../../lib/devices/virtio/transport/mmio-registers';
import { ConfigError } from '../../lib/kvm/errors';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { placed } from '../helpers/devices';
import { hostDevice } from '../helpers/hosted-device';
import { MmioDriver } from '../helpers/mmio-driver';
import { TestDriver } from '../helpers/virtqueue-driver';

const bit = (b: bigint): bigint => 1n << b;

describe('virtio-blk device description and host file', () => {
  let dir: string;
  const closers: (() => unknown)[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'virtio-blk-dev-'));
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function disk(name: string, bytes: number, fill = 0): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, Buffer.alloc(bytes, fill));
    return file;
  }

  function device(options: ConstructorParameters<typeof VirtioBlkDevice>[0]): VirtioBlkDevice {
    const made = new VirtioBlkDevice(options);
    closers.push(() => made.close());
    return made;
  }

  it('5.2.4: config space: capacity, seg_max, blk_size, discard and write-zeroes limits at their offsets, the rest zero', () => {
    const { config, deviceId, queueSizes } = blkDescription({ sectors: 0x1_2345_6789n, readOnly: false });
    assert.equal(deviceId, VirtioDeviceId.BLOCK);
    assert.deepEqual(queueSizes, [BLK_QUEUE_SIZE]);
    assert.ok(config !== undefined);
    const bytes = Buffer.from(config);
    assert.equal(bytes.length, 60);
    const expected = Buffer.alloc(60);
    expected.writeBigUInt64LE(0x1_2345_6789n, 0); // capacity
    expected.writeUInt32LE(BLK_QUEUE_SIZE - 2, 12); // seg_max
    expected.writeUInt32LE(512, 20); // blk_size
    expected.writeUInt32LE(0x10000, 36); // max_discard_sectors
    expected.writeUInt32LE(1, 40); // max_discard_seg
    expected.writeUInt32LE(1, 44); // discard_sector_alignment
    expected.writeUInt32LE(0x10000, 48); // max_write_zeroes_sectors
    expected.writeUInt32LE(1, 52); // max_write_zeroes_seg
    assert.deepEqual(bytes, expected);
  });

  it('5.2.3: feature bits: SEG_MAX, BLK_SIZE, FLUSH, DISCARD, WRITE_ZEROES when writable; RO instead of DISCARD and WRITE_ZEROES when read-only', () => {
    assert.deepEqual(BlkFeature, { SEG_MAX: 2n, RO: 5n, BLK_SIZE: 6n, FLUSH: 9n, DISCARD: 13n, WRITE_ZEROES: 14n });
    const common = bit(VirtioFeature.INDIRECT_DESC) | bit(VirtioFeature.EVENT_IDX) | bit(2n) | bit(6n) | bit(9n);
    assert.equal(blkDescription({ sectors: 8n, readOnly: false }).features, common | bit(13n) | bit(14n));
    assert.equal(blkDescription({ sectors: 8n, readOnly: true }).features, common | bit(5n));
  });

  it('BlockFile: sectors are whole 512-byte sectors, the id defaults to the base name (at most 20 bytes), identity is the inode', () => {
    const file = new BlockFile(disk('a-rather-long-disk-name.img', 1000));
    closers.push(() => file.close());
    assert.equal(file.sectors, 1n);
    assert.equal(file.readOnly, false);
    assert.equal(Buffer.from(file.id).toString(), 'a-rather-long-disk-n');
    assert.equal(file.id.length, BLK_ID_BYTES);
    const stat = fs.statSync(file.path);
    assert.equal(file.identity, `${stat.dev}:${stat.ino}`);
    fs.writeSync(file.fd, Buffer.from('rw'), 0, 2, 0);
    assert.equal(fs.readFileSync(file.path).subarray(0, 2).toString(), 'rw', 'opened for writing');
    const named = new BlockFile(file.path, { id: 'short', readOnly: true });
    closers.push(() => named.close());
    assert.equal(Buffer.from(named.id).toString(), 'short');
    assert.equal(named.readOnly, true);
    assert.throws(() => fs.writeSync(named.fd, Buffer.from('x'), 0, 1, 0), /EBADF/, 'opened read-only');
  });

  it('BlockFile: a missing file, a directory and a character device are refused with ConfigError; close twice is harmless', () => {
    const missing = path.join(dir, 'missing.img');
    assert.throws(
      () => new BlockFile(missing),
      (e: Error) => e instanceof ConfigError && /cannot open/.test(e.message) && (e.cause as NodeJS.ErrnoException).code === 'ENOENT',
    );
    assert.throws(() => new BlockFile(dir, { readOnly: true }), (e: Error) => e instanceof ConfigError && /not a regular file or block device/.test(e.message));
    assert.throws(() => new BlockFile('/dev/null', { readOnly: true }), (e: Error) => e instanceof ConfigError && /not a regular file or block device/.test(e.message));
    const file = new BlockFile(disk('e.img', 512));
    file.close();
    file.close();
    assert.throws(() => fs.fstatSync(file.fd), /EBADF/);
  });

  it('VirtioBlkDevice: kind, id, window, line and counters as given; read-only opens the file read-only and offers RO', () => {
    const image = disk('f.img', 4096);
    const given = device({ path: image, id: 'root', base: 0xd000_0000, irq: 9, readOnly: true });
    assert.equal(given.kind, 'virtio-blk');
    assert.equal(given.idPrefix, 'blk');
    assert.equal(given.requestedId, 'root');
    assert.deepEqual(given.needs, { mmioWindow: { size: VIRTIO_MMIO_WINDOW, base: 0xd000_0000 }, irq: { line: 9 } });
    assert.deepEqual(given.counters?.names, BLK_COUNTERS);
    assert.equal(given.file.readOnly, true);
    assert.equal(Buffer.from(given.file.id).toString(), 'root', 'the id is GET_ID\'s answer');
    assert.notEqual(new MmioDriver(given.transport).deviceFeatures() & bit(BlkFeature.RO), 0n);
    assert.throws(() => fs.writeSync(given.file.fd, Buffer.from('x'), 0, 1, 0), /EBADF/);
    const defaults = device({ path: disk('g.img', 4096) });
    assert.equal(defaults.requestedId, undefined);
    assert.deepEqual(defaults.needs, { mmioWindow: { size: VIRTIO_MMIO_WINDOW, base: undefined }, irq: { line: undefined } });
    assert.equal(defaults.file.readOnly, false);
    assert.equal(Buffer.from(defaults.file.id).toString(), 'g.img');
    assert.equal(new MmioDriver(defaults.transport).deviceFeatures() & bit(BlkFeature.RO), 0n);
    placed(defaults);
    assert.equal(defaults.id, 'blk0');
  });

  it('VirtioBlkDevice: a writable file is one VM\'s alone until close; read-only ones share; a failed construction releases its claim and file', () => {
    const image = disk('h.img', 4096);
    const first = new VirtioBlkDevice({ path: image });
    assert.throws(() => new VirtioBlkDevice({ path: image }), (e: Error) => e.name === 'ClaimError');
    const shared = [device({ path: image, readOnly: true }), device({ path: image, readOnly: true })];
    assert.equal(shared.length, 2);
    first.close();
    assert.throws(() => fs.fstatSync(first.file.fd), /EBADF/, 'close closes the file');
    const second = device({ path: image });
    assert.equal(second.file.path, image);
    const other = disk('i.img', 4096);
    assert.throws(() => new VirtioBlkDevice({ path: other, base: 0x123 }), ConfigError, 'a misaligned window');
    device({ path: other });
  });
});

describe('virtio-blk: GET_ID and the claim across a swap of the backing file (I/O thread)', function () {
  this.timeout(30_000);
  let memory: GuestMemory;
  let dir: string;
  const closers: (() => unknown)[] = [];
  const RINGS = 0x10000;
  const HEADER = 0x80000;
  const DATA = 0x90000;
  const STATUS = 0xa0000;
  let disks = 0;

  beforeEach(() => {
    memory = GuestMemory.allocate(ramLayout(2 * 1024 * 1024));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'virtio-blk-swapid-'));
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    memory.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function live(options: ConstructorParameters<typeof VirtioBlkDevice>[0]): Promise<{ device: VirtioBlkDevice; getId: () => Promise<string> }> {
    const device = new VirtioBlkDevice(options);
    const hosted = await hostDevice(device, memory);
    closers.push(() => hosted.stop());
    // Each live disk has rings of its own (an earlier disk of the test is still live).
    const queue = new TestDriver(memory, RINGS + 0x4000 * disks++, 16);
    queue.clearRings();
    assert.notEqual(hosted.driver.negotiate(1n << VirtioFeature.VERSION_1) & DeviceStatus.FEATURES_OK, 0);
    hosted.driver.setupQueue(0, queue.config);
    hosted.driver.driverOk();
    hosted.statusChanged();
    let next = 0;
    const getId = async (): Promise<string> => {
      const header = Buffer.alloc(BLK_HEADER_SIZE);
      header.writeUInt32LE(BlkRequestType.GET_ID, 0);
      memory.writeBytes(HEADER, header);
      memory.writeBytes(DATA, Buffer.alloc(20, 0xff));
      memory.writeU8(STATUS, 0xff);
      queue.makeAvailable(queue.writeChain(0, [{ address: HEADER, length: BLK_HEADER_SIZE, writable: false }, { address: DATA, length: 20, writable: true }, { address: STATUS, length: 1, writable: true }]));
      hosted.notify(0);
      await queue.waitForUsed(next, 'the device answers');
      next++;
      assert.equal(memory.readU8(STATUS), BlkStatus.OK);
      return Buffer.from(memory.readBytes(DATA, 20)).toString('latin1').replace(/\0+$/, '');
    };
    return { device, getId };
  }

  it('5.2.6: GET_ID answers the device\'s id option after a swap, the new file\'s base name without one', async () => {
    const a = path.join(dir, 'a.img');
    const b = path.join(dir, 'b.img');
    fs.writeFileSync(a, Buffer.alloc(4096));
    fs.writeFileSync(b, Buffer.alloc(4096));
    const named = await live({ path: a, id: 'stable-id', readOnly: true });
    assert.equal(await named.getId(), 'stable-id');
    await named.device.swapFile(b);
    assert.equal(await named.getId(), 'stable-id', 'the id stays');
    assert.equal(named.device.file.readOnly, true, 'still read-only');
    const unnamed = await live({ path: a, readOnly: true });
    assert.equal(await unnamed.getId(), 'a.img');
    await unnamed.device.swapFile(b);
    assert.equal(await unnamed.getId(), 'b.img');
  });

  it('a writable disk swapped to the same file under another path keeps its claim: no other disk may take the file', async () => {
    const a = path.join(dir, 'a.img');
    const link = path.join(dir, 'link.img');
    fs.writeFileSync(a, Buffer.alloc(4096));
    fs.linkSync(a, link);
    const { device } = await live({ path: a });
    await device.swapFile(link);
    assert.equal(device.file.path, link);
    assert.throws(() => new VirtioBlkDevice({ path: a }), (e: Error) => e.name === 'ClaimError', 'still claimed after the swap');
    const c = path.join(dir, 'c.img');
    fs.writeFileSync(c, Buffer.alloc(4096));
    await device.swapFile(c);
    const taken = new VirtioBlkDevice({ path: a });
    closers.push(() => taken.close());
    assert.throws(() => new VirtioBlkDevice({ path: c }), (e: Error) => e.name === 'ClaimError', 'the new file is claimed');
  });
});
