import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { VirtioBlkBackend } from '../../lib/devices/virtio/blk/backend';
import { blkDescription as blkDevice, BlkFeature, VirtioBlkDevice } from '../../lib/devices/virtio/blk/device';
import { BlockFile } from '../../lib/devices/virtio/blk/file';
import { BLK_WRITE_ZEROES_UNMAP, BlkRequestType, BlkStatus, MAX_DISCARD_SECTORS } from '../../lib/devices/virtio/blk/request';
import { DeviceStatus, MmioReg, VirtioFeature } from '../../lib/devices/virtio/transport/mmio-registers';
import { createVirtioMmioState } from '../../lib/devices/virtio/transport/mmio-state';
import { VirtioMmioTransport } from '../../lib/devices/virtio/transport/mmio-transport';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { hostDevice, type HostedDevice } from '../helpers/hosted-device';
import { MmioDriver } from '../helpers/mmio-driver';
import { fuzzIterations, fuzzSeed, fuzzTimeout, reportChains } from '../helpers/fuzz-config';
import { Prng } from '../helpers/prng';
import { TestDriver } from '../helpers/virtqueue-driver';

const RAM = 2 * 1024 * 1024;
const RINGS = 0x10000;
const HEADER = 0x80000;
const DATA = 0x100000;
const STATUS = 0x90000;
const DISK_SECTORS = 64;
const DEFAULT_HOSTILE_REQUESTS = 10_000;
const HOSTILE_REQUESTS = fuzzIterations(DEFAULT_HOSTILE_REQUESTS);
const HOSTILE_SEED = fuzzSeed(0xb10c);

interface Rig {
  backend: VirtioBlkBackend;
  queue: TestDriver;
  driver: MmioDriver;
  transport: VirtioMmioTransport;
  next: number;
}

describe('virtio-blk back end', () => {
  let memory: GuestMemory;
  let dir: string;
  let diskPath: string;
  const files: BlockFile[] = [];

  beforeEach(() => {
    memory = GuestMemory.allocate(ramLayout(RAM));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'virtio-blk-'));
    diskPath = path.join(dir, 'disk.img');
    fs.writeFileSync(diskPath, Buffer.alloc(DISK_SECTORS * 512, 0xaa));
  });
  afterEach(() => {
    for (const file of files.splice(0)) file.close();
    memory.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function rig(readOnly = false): Rig {
    const file = new BlockFile(diskPath, { readOnly, id: 'node-vmm-disk' });
    files.push(file);
    const transport = new VirtioMmioTransport(createVirtioMmioState(blkDevice(file)));
    const backend = new VirtioBlkBackend({ transport, memory, signal: () => {} }, file);
    const driver = new MmioDriver(transport);
    const queue = new TestDriver(memory, RINGS, 16);
    assert.notEqual(driver.negotiate((1n << VirtioFeature.VERSION_1) | (driver.deviceFeatures() & (1n << BlkFeature.FLUSH))) & DeviceStatus.FEATURES_OK, 0);
    driver.setupQueue(0, queue.config);
    driver.driverOk();
    backend.activate();
    return { backend, queue, driver, transport, next: 0 };
  }

  async function request(r: Rig, type: number, sector: number, data: { length: number; writable: boolean } | undefined, fill?: Buffer): Promise<{ status: number; used: number }> {
    const header = Buffer.alloc(16);
    header.writeUInt32LE(type, 0);
    header.writeBigUInt64LE(BigInt(sector), 8);
    memory.writeBytes(HEADER, header);
    if (fill) memory.writeBytes(DATA, fill);
    memory.writeU8(STATUS, 0xff);
    const buffers = [{ address: HEADER, length: 16, writable: false }, ...(data ? [{ address: DATA, length: data.length, writable: data.writable }] : []), { address: STATUS, length: 1, writable: true }];
    const head = r.queue.writeChain(0, buffers);
    r.queue.makeAvailable(head);
    r.backend.notify();
    await r.backend.idle();
    const used = r.queue.usedEntry(r.next++);
    return { status: memory.readU8(STATUS), used: used.len };
  }

  it('offers capacity, block size and flush; writes reach the file and read back', async () => {
    const r = rig();
    assert.equal(r.driver.read(MmioReg.DEVICE_ID), 2);
    assert.equal(r.driver.read(0x100), DISK_SECTORS, 'capacity in sectors');
    const payload = Buffer.alloc(1024, 0x5a);
    payload.write('hello disk', 0);
    assert.deepEqual(await request(r, BlkRequestType.OUT, 3, { length: 1024, writable: false }, payload), { status: BlkStatus.OK, used: 1 });
    assert.deepEqual(await request(r, BlkRequestType.FLUSH, 0, undefined), { status: BlkStatus.OK, used: 1 });
    assert.deepEqual(fs.readFileSync(diskPath).subarray(3 * 512, 5 * 512), payload, 'on the host file');
    memory.writeBytes(DATA, Buffer.alloc(1024));
    assert.deepEqual(await request(r, BlkRequestType.IN, 3, { length: 1024, writable: true }), { status: BlkStatus.OK, used: 1025 });
    assert.deepEqual(Buffer.from(memory.readBytes(DATA, 1024)), payload);
  });

  it('answers GET_ID, zeroes with WRITE_ZEROES, and refuses what it cannot do', async () => {
    const r = rig();
    assert.equal((await request(r, BlkRequestType.GET_ID, 0, { length: 20, writable: true })).status, BlkStatus.OK);
    assert.equal(Buffer.from(memory.readBytes(DATA, 13)).toString(), 'node-vmm-disk');
    const segment = Buffer.alloc(16);
    segment.writeBigUInt64LE(1n, 0);
    segment.writeUInt32LE(2, 8);
    assert.equal((await request(r, BlkRequestType.WRITE_ZEROES, 0, { length: 16, writable: false }, segment)).status, BlkStatus.OK);
    assert.deepEqual(fs.readFileSync(diskPath).subarray(512, 3 * 512), Buffer.alloc(1024));
    assert.equal(fs.readFileSync(diskPath)[3 * 512], 0xaa, 'only the segment');
    assert.equal((await request(r, BlkRequestType.IN, DISK_SECTORS - 1, { length: 1024, writable: true })).status, BlkStatus.IOERR, 'beyond the end');
    assert.equal((await request(r, BlkRequestType.IN, 0, { length: 100, writable: true })).status, BlkStatus.IOERR, 'not whole sectors');
    assert.equal((await request(r, 99, 0, undefined)).status, BlkStatus.UNSUPP);
    assert.equal(r.transport.status & DeviceStatus.DEVICE_NEEDS_RESET, 0);
  });

  it('5.2.6.2: a write of one sector at the capacity (just past the end) fails with IOERR and the host file does not grow; the last sector and zero-length requests at the end are fine', async () => {
    const r = rig();
    const one = { length: 512, writable: false };
    assert.equal((await request(r, BlkRequestType.OUT, DISK_SECTORS, one, Buffer.alloc(512, 1))).status, BlkStatus.IOERR);
    assert.equal((await request(r, BlkRequestType.OUT, DISK_SECTORS - 1, { length: 1024, writable: false }, Buffer.alloc(1024, 1))).status, BlkStatus.IOERR, 'across the end');
    assert.equal(fs.statSync(diskPath).size, DISK_SECTORS * 512, 'the file keeps its size');
    assert.deepEqual(fs.readFileSync(diskPath), Buffer.alloc(DISK_SECTORS * 512, 0xaa), 'nothing written');
    assert.equal((await request(r, BlkRequestType.OUT, DISK_SECTORS - 1, one, Buffer.alloc(512, 2))).status, BlkStatus.OK, 'the last sector');
    assert.deepEqual(await request(r, BlkRequestType.IN, DISK_SECTORS, { length: 0, writable: true }), { status: BlkStatus.OK, used: 1 }, 'zero-length read at the end');
    assert.equal((await request(r, BlkRequestType.IN, DISK_SECTORS + 1, { length: 0, writable: true })).status, BlkStatus.IOERR, 'zero-length read past the end');
    assert.equal(fs.statSync(diskPath).size, DISK_SECTORS * 512);
  });

  it('5.2.6.2: DISCARD and WRITE_ZEROES: UNSUPP for unknown flags (and unmap on a discard), IOERR past the end or over max sectors', async () => {
    const r = rig();
    const segment = (sector: number, sectors: number, flags: number): Buffer => {
      const bytes = Buffer.alloc(16);
      bytes.writeBigUInt64LE(BigInt(sector), 0);
      bytes.writeUInt32LE(sectors, 8);
      bytes.writeUInt32LE(flags >>> 0, 12);
      return bytes;
    };
    const send = async (type: number, bytes: Buffer): Promise<number> => (await request(r, type, 0, { length: bytes.length, writable: false }, bytes)).status;
    assert.equal(await send(BlkRequestType.DISCARD, segment(0, 1, BLK_WRITE_ZEROES_UNMAP)), BlkStatus.UNSUPP, 'unmap on a discard');
    assert.equal(await send(BlkRequestType.DISCARD, segment(0, 1, 2)), BlkStatus.UNSUPP);
    assert.equal(await send(BlkRequestType.WRITE_ZEROES, segment(0, 1, 0x80000000)), BlkStatus.UNSUPP);
    assert.deepEqual(fs.readFileSync(diskPath), Buffer.alloc(DISK_SECTORS * 512, 0xaa), 'nothing zeroed by a refused request');
    assert.equal(await send(BlkRequestType.WRITE_ZEROES, segment(0, 1, BLK_WRITE_ZEROES_UNMAP)), BlkStatus.OK, 'write zeroes may unmap');
    assert.equal(await send(BlkRequestType.DISCARD, segment(1, 1, 0)), BlkStatus.OK);
    assert.deepEqual(fs.readFileSync(diskPath).subarray(0, 1024), Buffer.alloc(1024));
    for (const type of [BlkRequestType.DISCARD, BlkRequestType.WRITE_ZEROES]) {
      assert.equal(await send(type, segment(DISK_SECTORS, 1, 0)), BlkStatus.IOERR, `${type}: one sector past the end`);
      assert.equal(await send(type, segment(0, MAX_DISCARD_SECTORS + 1, 0)), BlkStatus.IOERR, `${type}: over max sectors`);
      assert.equal(await send(type, Buffer.concat([segment(2, 1, 0), segment(3, 1, 0)])), BlkStatus.IOERR, `${type}: more segments than max_discard_seg`);
    }
    assert.equal(fs.statSync(diskPath).size, DISK_SECTORS * 512);
  });

  it('read-only: offers RO and fails writes with IOERR, the file untouched', async () => {
    const r = rig(true);
    assert.ok((r.driver.deviceFeatures() & (1n << BlkFeature.RO)) !== 0n);
    assert.equal((await request(r, BlkRequestType.OUT, 0, { length: 512, writable: false }, Buffer.alloc(512, 1))).status, BlkStatus.IOERR);
    assert.deepEqual(fs.readFileSync(diskPath), Buffer.alloc(DISK_SECTORS * 512, 0xaa));
  });

  it('read-only: refuses writes, discards and write-zeroes itself, even where the file could be written', async () => {
    const r = rig(true);
    const file = new BlockFile(diskPath, { id: 'rw' });
    files.push(file);
    const backend = new VirtioBlkBackend({ transport: r.transport, memory, signal: () => {} }, { fd: file.fd, sectors: file.sectors, readOnly: true, id: file.id });
    backend.activate();
    const viaRw = { ...r, backend };
    const segment = Buffer.alloc(16);
    segment.writeUInt32LE(1, 8);
    assert.equal((await request(viaRw, BlkRequestType.OUT, 0, { length: 512, writable: false }, Buffer.alloc(512, 1))).status, BlkStatus.IOERR);
    assert.equal((await request(viaRw, BlkRequestType.WRITE_ZEROES, 0, { length: 16, writable: false }, segment)).status, BlkStatus.IOERR);
    assert.equal((await request(viaRw, BlkRequestType.DISCARD, 0, { length: 16, writable: false }, segment)).status, BlkStatus.IOERR);
    assert.deepEqual(fs.readFileSync(diskPath), Buffer.alloc(DISK_SECTORS * 512, 0xaa));
  });

  it('a chain without a status byte makes the device NEEDS_RESET', async () => {
    const r = rig();
    r.queue.makeAvailable(r.queue.writeChain(0, [{ address: HEADER, length: 16, writable: false }]));
    r.backend.notify();
    await r.backend.idle();
    assert.notEqual(r.transport.status & DeviceStatus.DEVICE_NEEDS_RESET, 0);
    assert.equal(r.backend.error, undefined, 'a guest error, not a host failure');
  });

  it(`survives ${HOSTILE_REQUESTS} hostile requests (seed 0x${HOSTILE_SEED.toString(16)}): no exception, the file keeps its size, a defined end state`, async function () {
    this.timeout(fuzzTimeout(DEFAULT_HOSTILE_REQUESTS, 60_000));
    const rng = new Prng(HOSTILE_SEED);
    let requests = 0;
    let resets = 0;
    while (requests < HOSTILE_REQUESTS) {
      const r = rig();
      for (let i = 0; i < 16; i++) {
        const hostile = rng.chance(0.2);
        r.queue.writeDescriptor(i, {
          address: hostile ? BigInt(rng.u32()) * 4096n : HEADER + rng.below(0x8000) * 16,
          length: hostile ? rng.u32() : rng.pick([1, 16, 512, 1024, rng.below(2048)]),
          flags: rng.below(hostile ? 8 : 4),
          next: rng.below(18),
        });
      }
      for (let at = HEADER; at < HEADER + 0x1000; at += 16) {
        memory.writeU32(at, rng.pick([0, 1, 4, 8, 11, 13, rng.u32()]));
        memory.writeU64(at + 8, BigInt(rng.below(DISK_SECTORS + 4)));
      }
      const offered = 1 + rng.below(16);
      for (let i = 0; i < offered; i++) r.queue.makeAvailable(rng.below(17));
      requests += offered;
      r.backend.notify();
      await r.backend.idle();
      assert.equal(r.backend.error, undefined);
      const reset = (r.transport.status & DeviceStatus.DEVICE_NEEDS_RESET) !== 0;
      assert.ok(reset || r.queue.usedIndex() === offered, 'all answered or NEEDS_RESET');
      if (reset) resets++;
    }
    assert.equal(fs.statSync(diskPath).size, DISK_SECTORS * 512);
    reportChains(requests);
    console.log(`      ${requests} requests, ${resets} queues ended NEEDS_RESET`);
  });
});

describe('virtio-blk: swapping the backing file of a running disk (back end on an I/O thread)', function () {
  this.timeout(30_000);
  let memory: GuestMemory;
  let dir: string;
  const closers: (() => unknown)[] = [];

  beforeEach(() => {
    memory = GuestMemory.allocate(ramLayout(RAM));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'virtio-blk-swap-'));
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    memory.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function disk(name: string, sectors: number, text: string): string {
    const file = path.join(dir, name);
    const bytes = Buffer.alloc(sectors * 512);
    bytes.write(text, 0);
    fs.writeFileSync(file, bytes);
    return file;
  }

  /** A live disk on an I/O thread and a driver reading sector 0 through its queue. */
  async function liveDisk(file: string): Promise<{ device: VirtioBlkDevice; hosted: HostedDevice; readSector0: () => Promise<{ status: number; text: string }> }> {
    const device = new VirtioBlkDevice({ path: file, id: 'swap-disk' });
    const hosted = await hostDevice(device, memory);
    closers.push(() => hosted.stop());
    const queue = new TestDriver(memory, RINGS, 16);
    assert.notEqual(hosted.driver.negotiate(1n << VirtioFeature.VERSION_1) & DeviceStatus.FEATURES_OK, 0);
    hosted.driver.setupQueue(0, queue.config);
    hosted.driver.driverOk();
    hosted.statusChanged();
    let next = 0;
    const readSector0 = async (): Promise<{ status: number; text: string }> => {
      memory.writeBytes(HEADER, Buffer.alloc(16)); // IN, sector 0
      memory.writeBytes(DATA, Buffer.alloc(512));
      memory.writeU8(STATUS, 0xff);
      const head = queue.writeChain(0, [{ address: HEADER, length: 16, writable: false }, { address: DATA, length: 512, writable: true }, { address: STATUS, length: 1, writable: true }]);
      queue.makeAvailable(head);
      hosted.notify(0);
      await queue.waitForUsed(next, 'the device answers');
      next++;
      return { status: memory.readU8(STATUS), text: Buffer.from(memory.readBytes(DATA, 16)).toString('latin1').replace(/\0+$/, '') };
    };
    return { device, hosted, readSector0 };
  }

  it('the back end reads the new file from the next request on; capacity and ConfigGeneration follow, with a config-change interrupt; the old file is closed', async () => {
    const first = disk('first.img', 64, 'first-disk');
    const second = disk('second.img', 96, 'second-disk');
    const { device, hosted, readSector0 } = await liveDisk(first);
    assert.deepEqual(await readSector0(), { status: BlkStatus.OK, text: 'first-disk' });
    assert.equal(hosted.driver.read(0x100), 64, 'capacity before');
    const generation = hosted.driver.read(MmioReg.CONFIG_GENERATION);
    hosted.driver.write(MmioReg.INTERRUPT_ACK, hosted.driver.read(MmioReg.INTERRUPT_STATUS));
    const interrupts = hosted.interrupts();
    const oldFd = device.file.fd;
    await device.swapFile(second);
    assert.equal(device.file.path, second);
    assert.equal(hosted.driver.read(0x100), 96, 'capacity after');
    assert.notEqual(hosted.driver.read(MmioReg.CONFIG_GENERATION), generation, 'ConfigGeneration moved on');
    assert.equal(hosted.driver.read(MmioReg.INTERRUPT_STATUS) & 2, 2, 'the config-change bit');
    assert.ok(hosted.interrupts() > interrupts, 'the irqfd was signalled');
    assert.deepEqual(await readSector0(), { status: BlkStatus.OK, text: 'second-disk' });
    assert.throws(() => fs.fstatSync(oldFd), /EBADF/, 'the first file is closed');
  });

  it('a file that cannot be opened, or that another live disk writes, is refused and the disk keeps its file', async () => {
    const first = disk('first.img', 64, 'first-disk');
    const taken = disk('taken.img', 64, 'taken-disk');
    const { device, readSector0 } = await liveDisk(first);
    const other = new VirtioBlkDevice({ path: taken });
    closers.push(() => other.close());
    await assert.rejects(device.swapFile(path.join(dir, 'missing.img')), (e: Error) => e.name === 'ConfigError' && /cannot open/.test(e.message));
    await assert.rejects(device.swapFile(taken), (e: Error) => e.name === 'ClaimError');
    assert.equal(device.file.path, first);
    assert.deepEqual(await readSector0(), { status: BlkStatus.OK, text: 'first-disk' });
    const unattached = new VirtioBlkDevice({ path: taken, readOnly: true });
    closers.push(() => unattached.close());
    await assert.rejects(unattached.swapFile(first), (e: Error) => e.name === 'DeviceError', 'a disk whose back end does not run');
  });
});
