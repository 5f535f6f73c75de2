// virtio-blk's back end request by request (virtio 1.2, 5.2.6): every type and status byte, the
// used lengths, GET_ID's padding and splitting, the counters, the per-turn budgets, and the host's
// own I/O errors (a failing file turns into IOERR, a host bug into a stopped device).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeviceCounters } from '../../lib/devices/counters';
import { BLK_BYTES_PER_TURN, BLK_CHAINS_PER_TURN, BLK_COUNTERS, type BlkBackendArgs, createBackend, VirtioBlkBackend } from '../../lib/devices/virtio/blk/backend';
import { blkDescription } from '../../lib/devices/virtio/blk/device';
import { BLK_HEADER_SIZE, BlkRequestType, BlkStatus, MAX_DISCARD_SECTORS, SECTOR_SIZE } from '../../lib/devices/virtio/blk/request';
import { DeviceStatus, VirtioFeature } from '../../lib/devices/virtio/transport/mmio-registers';
import { createVirtioMmioState } from '../../lib/devices/virtio/transport/mmio-state';
import { VirtioMmioTransport } from '../../lib/devices/virtio/transport/mmio-transport';
import { Avail } from '../../lib/devices/virtio/transport/split-ring-layout';
import type { QueueMemory } from '../../lib/devices/virtio/transport/split-virtqueue';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { MmioDriver } from '../helpers/mmio-driver';
import { refillingMemory } from '../helpers/refilling-memory';
import { TestDriver } from '../helpers/virtqueue-driver';

const RAM = 4 * 1024 * 1024;
const RINGS = 0x10000;
const HEADER = 0x80000;
const STATUS = 0x90000;
const DATA = 0x100000;
const DISK_SECTORS = 4096; // 2 MiB
const MIB = 1024 * 1024;

type Buffers = { address: number; length: number; writable: boolean }[];

interface Rig {
  backend: VirtioBlkBackend;
  queue: TestDriver;
  transport: VirtioMmioTransport;
  counters: DeviceCounters<(typeof BLK_COUNTERS)[number]>;
  /** Offers one request (header at HEADER, the given data buffers, status at STATUS) without notifying. */
  offer(type: number, sector: number | bigint, data?: Buffers): void;
  /** Offers, notifies, waits for the back end; the status byte and the used length. */
  send(type: number, sector: number | bigint, data?: Buffers): Promise<{ status: number; len: number }>;
}

describe('virtio-blk back end: requests, status bytes and budgets (5.2.6)', () => {
  let memory: GuestMemory;
  let dir: string;
  let diskPath: string;
  const fds: number[] = [];

  beforeEach(() => {
    memory = GuestMemory.allocate(ramLayout(RAM));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'virtio-blk-req-'));
    diskPath = path.join(dir, 'disk.img');
    const bytes = Buffer.alloc(DISK_SECTORS * SECTOR_SIZE);
    for (let s = 0; s < DISK_SECTORS; s++) bytes.fill(s & 0xff, s * SECTOR_SIZE, (s + 1) * SECTOR_SIZE);
    fs.writeFileSync(diskPath, bytes);
  });
  afterEach(() => {
    for (const fd of fds.splice(0)) fs.closeSync(fd);
    memory.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function open(file: string, flags: string): number {
    const fd = fs.openSync(file, flags);
    fds.push(fd);
    return fd;
  }

  function rig(args: Partial<BlkBackendArgs> = {}, options: { size?: number; memory?: QueueMemory } = {}): Rig {
    const file: BlkBackendArgs = { fd: args.fd ?? open(diskPath, 'r+'), sectors: args.sectors ?? BigInt(DISK_SECTORS), readOnly: args.readOnly ?? false, id: args.id ?? Buffer.from('disk-id') };
    const transport = new VirtioMmioTransport(createVirtioMmioState(blkDescription({ sectors: file.sectors, readOnly: file.readOnly })));
    const counters = new DeviceCounters(BLK_COUNTERS);
    const backend = createBackend({ transport, memory: options.memory ?? memory, signal: () => {}, counters }, file);
    const driver = new MmioDriver(transport);
    const queue = new TestDriver(memory, RINGS, options.size ?? 16);
    queue.clearRings(); // a test may make several rigs over the same memory
    assert.notEqual(driver.negotiate(1n << VirtioFeature.VERSION_1) & DeviceStatus.FEATURES_OK, 0);
    driver.setupQueue(0, queue.config);
    driver.driverOk();
    backend.activate();
    let next = 0;
    const offer = (type: number, sector: number | bigint, data: Buffers = []): void => {
      const header = Buffer.alloc(BLK_HEADER_SIZE);
      header.writeUInt32LE(type, 0);
      header.writeBigUInt64LE(BigInt(sector), 8);
      memory.writeBytes(HEADER, header);
      memory.writeU8(STATUS, 0xff);
      queue.makeAvailable(queue.writeChain(0, [{ address: HEADER, length: BLK_HEADER_SIZE, writable: false }, ...data, { address: STATUS, length: 1, writable: true }]));
    };
    const send = async (type: number, sector: number | bigint, data: Buffers = []): Promise<{ status: number; len: number }> => {
      offer(type, sector, data);
      backend.notify();
      await backend.idle();
      assert.equal(queue.usedIndex(), next + 1, 'the request was answered');
      const used = queue.usedEntry(next++);
      assert.equal(used.id, 0);
      return { status: memory.readU8(STATUS), len: used.len };
    };
    assert.ok(backend instanceof VirtioBlkBackend);
    return { backend, queue, transport, counters, offer, send };
  }

  const readInto = (length: number, address = DATA): Buffers => [{ address, length, writable: true }];
  const writeFrom = (length: number, address = DATA): Buffers => [{ address, length, writable: false }];
  const sector = (s: number): Buffer => Buffer.alloc(SECTOR_SIZE, s & 0xff);

  it('5.2.6: IN reads whole sectors into the buffers, split across descriptors, used length = data + status', async () => {
    const r = rig();
    const data: Buffers = [
      { address: DATA, length: 100, writable: true },
      { address: DATA + 0x1000, length: 2 * SECTOR_SIZE - 100, writable: true },
    ];
    assert.deepEqual(await r.send(BlkRequestType.IN, 7, data), { status: BlkStatus.OK, len: 2 * SECTOR_SIZE + 1 });
    const got = Buffer.concat([memory.readBytes(DATA, 100), memory.readBytes(DATA + 0x1000, 2 * SECTOR_SIZE - 100)]);
    assert.deepEqual(got, Buffer.concat([sector(7), sector(8)]));
    assert.deepEqual(r.counters.read(), { ...r.counters.read(), reads: 1, readBytes: 2 * SECTOR_SIZE, writes: 0, writeBytes: 0, ok: 1, ioerr: 0, unsupp: 0 });
  });

  it('5.2.6: OUT writes the readable data at sector * 512, used length 1 (only the status byte is written)', async () => {
    const r = rig();
    memory.writeBytes(DATA, Buffer.alloc(3 * SECTOR_SIZE, 0xe1));
    assert.deepEqual(await r.send(BlkRequestType.OUT, 10, writeFrom(3 * SECTOR_SIZE)), { status: BlkStatus.OK, len: 1 });
    const disk = fs.readFileSync(diskPath);
    assert.deepEqual(disk.subarray(10 * SECTOR_SIZE, 13 * SECTOR_SIZE), Buffer.alloc(3 * SECTOR_SIZE, 0xe1));
    assert.deepEqual(disk.subarray(9 * SECTOR_SIZE, 10 * SECTOR_SIZE), sector(9), 'the sector before is untouched');
    assert.deepEqual(disk.subarray(13 * SECTOR_SIZE, 14 * SECTOR_SIZE), sector(13), 'the sector after is untouched');
    assert.equal(r.counters.get('writes'), 1);
    assert.equal(r.counters.get('writeBytes'), 3 * SECTOR_SIZE);
    assert.equal(r.counters.get('ok'), 1);
    assert.equal(r.counters.get('reads'), 0);
  });

  it('5.2.6: a request with no data moves nothing and is OK; a read of the last sector is OK, one past it IOERR', async () => {
    const r = rig();
    assert.deepEqual(await r.send(BlkRequestType.OUT, 3), { status: BlkStatus.OK, len: 1 });
    assert.deepEqual(await r.send(BlkRequestType.IN, 3), { status: BlkStatus.OK, len: 1 });
    assert.deepEqual(await r.send(BlkRequestType.IN, DISK_SECTORS - 1, readInto(SECTOR_SIZE)), { status: BlkStatus.OK, len: SECTOR_SIZE + 1 });
    assert.deepEqual(Buffer.from(memory.readBytes(DATA, SECTOR_SIZE)), sector(DISK_SECTORS - 1));
    assert.deepEqual(await r.send(BlkRequestType.IN, DISK_SECTORS, readInto(SECTOR_SIZE)), { status: BlkStatus.IOERR, len: 1 }, 'one past the end');
    assert.deepEqual(await r.send(BlkRequestType.IN, 2n ** 64n - 1n, readInto(SECTOR_SIZE)), { status: BlkStatus.IOERR, len: 1 }, 'a sector near 2^64');
    assert.deepEqual(await r.send(BlkRequestType.OUT, 0, writeFrom(SECTOR_SIZE + 1)), { status: BlkStatus.IOERR, len: 1 }, 'not whole sectors');
    assert.deepEqual(fs.readFileSync(diskPath).subarray(0, SECTOR_SIZE), sector(0), 'the refused write left sector 0');
    assert.equal(r.counters.get('ioerr'), 3);
    assert.equal(r.counters.get('ok'), 3);
    assert.equal(r.counters.get('writeBytes'), 0);
  });

  it('5.2.6: FLUSH is OK with used length 1 and counted; an unknown type is UNSUPP and touches no data buffer', async () => {
    const r = rig();
    assert.deepEqual(await r.send(BlkRequestType.FLUSH, 0), { status: BlkStatus.OK, len: 1 });
    assert.equal(r.counters.get('flushes'), 1);
    memory.writeBytes(DATA, Buffer.alloc(SECTOR_SIZE, 0x77));
    for (const type of [2, 3, 5, 7, 9, 10, 12, 14, 0xffffffff]) assert.deepEqual(await r.send(type, 0, readInto(SECTOR_SIZE)), { status: BlkStatus.UNSUPP, len: 1 }, `type ${type}`);
    assert.deepEqual(Buffer.from(memory.readBytes(DATA, SECTOR_SIZE)), Buffer.alloc(SECTOR_SIZE, 0x77));
    assert.equal(r.counters.get('unsupp'), 9);
    assert.equal(r.counters.get('ok'), 1);
    assert.equal(r.counters.get('ioerr'), 0);
    assert.equal(r.counters.get('reads'), 0);
  });

  it('5.2.6: GET_ID writes the id zero-padded to 20 bytes, across buffers, and never more than 20 bytes', async () => {
    const r = rig({ id: Buffer.from('abcdefghijklmnopqrst') });
    const pieces: Buffers = [
      { address: DATA, length: 3, writable: true },
      { address: DATA + 0x100, length: 10, writable: true },
      { address: DATA + 0x200, length: 30, writable: true },
    ];
    memory.writeBytes(DATA + 0x200, Buffer.alloc(30, 0xee));
    assert.deepEqual(await r.send(BlkRequestType.GET_ID, 0, pieces), { status: BlkStatus.OK, len: 21 });
    assert.equal(Buffer.from(memory.readBytes(DATA, 3)).toString(), 'abc');
    assert.equal(Buffer.from(memory.readBytes(DATA + 0x100, 10)).toString(), 'defghijklm');
    assert.deepEqual(Buffer.from(memory.readBytes(DATA + 0x200, 30)), Buffer.concat([Buffer.from('nopqrst'), Buffer.alloc(23)]), 'the rest of the last buffer is zeroed');
    assert.deepEqual(await r.send(BlkRequestType.GET_ID, 0, readInto(8)), { status: BlkStatus.OK, len: 9 }, 'a short buffer gets the first 8 bytes');
    assert.equal(Buffer.from(memory.readBytes(DATA, 8)).toString(), 'abcdefgh');
    assert.equal(r.counters.get('ok'), 2);
  });

  it('5.2.6: a short GET_ID id is padded with zeros over what the buffer held', async () => {
    const r = rig({ id: Buffer.from('ab') });
    memory.writeBytes(DATA, Buffer.alloc(20, 0x55));
    assert.deepEqual(await r.send(BlkRequestType.GET_ID, 0, readInto(20)), { status: BlkStatus.OK, len: 21 });
    assert.deepEqual(Buffer.from(memory.readBytes(DATA, 20)), Buffer.concat([Buffer.from('ab'), Buffer.alloc(18)]));
  });

  it('5.2.6: the header and the status byte may be split anywhere: a header in two buffers, the status at the end of the data buffer', async () => {
    const r = rig();
    const header = Buffer.alloc(BLK_HEADER_SIZE);
    header.writeUInt32LE(BlkRequestType.IN, 0);
    header.writeBigUInt64LE(5n, 8);
    memory.writeBytes(HEADER, header.subarray(0, 6));
    memory.writeBytes(HEADER + 0x100, header.subarray(6));
    memory.writeU8(DATA + SECTOR_SIZE, 0xff);
    r.queue.makeAvailable(
      r.queue.writeChain(0, [
        { address: HEADER, length: 6, writable: false },
        { address: HEADER + 0x100, length: 10, writable: false },
        { address: DATA, length: SECTOR_SIZE + 1, writable: true },
      ]),
    );
    r.backend.notify();
    await r.backend.idle();
    assert.deepEqual(r.queue.usedEntry(0), { id: 0, len: SECTOR_SIZE + 1 });
    assert.deepEqual(Buffer.from(memory.readBytes(DATA, SECTOR_SIZE)), sector(5));
    assert.equal(memory.readU8(DATA + SECTOR_SIZE), BlkStatus.OK);
  });

  it('5.2.6: a header shorter than 16 bytes or no writable status byte breaks the queue (NEEDS_RESET), a guest error, not a host failure', async () => {
    for (const buffers of [
      [{ address: HEADER, length: BLK_HEADER_SIZE - 1, writable: false }, { address: STATUS, length: 1, writable: true }],
      [{ address: HEADER, length: BLK_HEADER_SIZE, writable: false }],
      [{ address: HEADER, length: BLK_HEADER_SIZE + SECTOR_SIZE, writable: false }],
    ]) {
      const r = rig();
      memory.writeBytes(HEADER, Buffer.alloc(BLK_HEADER_SIZE));
      r.queue.makeAvailable(r.queue.writeChain(0, buffers));
      r.backend.notify();
      await r.backend.idle();
      assert.notEqual(r.transport.status & DeviceStatus.DEVICE_NEEDS_RESET, 0, JSON.stringify(buffers));
      assert.equal(r.queue.usedIndex(), 0, 'nothing used');
      assert.equal(r.backend.error, undefined);
    }
  });

  it('5.2.6: a header of exactly 16 bytes and a status-only writable part are enough', async () => {
    const r = rig();
    assert.deepEqual(await r.send(BlkRequestType.FLUSH, 0), { status: BlkStatus.OK, len: 1 });
    assert.equal(r.transport.status & DeviceStatus.DEVICE_NEEDS_RESET, 0);
  });

  it('5.2.6.2: DISCARD and WRITE_ZEROES zero exactly the segment\'s sectors; a segment list of the wrong size is IOERR', async () => {
    const r = rig();
    const segment = (start: number, count: number, flags = 0): Buffer => {
      const bytes = Buffer.alloc(16);
      bytes.writeBigUInt64LE(BigInt(start), 0);
      bytes.writeUInt32LE(count, 8);
      bytes.writeUInt32LE(flags, 12);
      return bytes;
    };
    // 300 sectors (150 KiB) is more than one 64 KiB zero chunk, so the loop must go on at the right offset.
    memory.writeBytes(DATA, segment(100, 300));
    assert.deepEqual(await r.send(BlkRequestType.WRITE_ZEROES, 0, writeFrom(16)), { status: BlkStatus.OK, len: 1 });
    let disk = fs.readFileSync(diskPath);
    assert.deepEqual(disk.subarray(100 * SECTOR_SIZE, 400 * SECTOR_SIZE), Buffer.alloc(300 * SECTOR_SIZE));
    assert.deepEqual(disk.subarray(99 * SECTOR_SIZE, 100 * SECTOR_SIZE), sector(99));
    assert.deepEqual(disk.subarray(400 * SECTOR_SIZE, 401 * SECTOR_SIZE), sector(400));
    memory.writeBytes(DATA, segment(DISK_SECTORS - 1, 1));
    assert.deepEqual(await r.send(BlkRequestType.DISCARD, 0, writeFrom(16)), { status: BlkStatus.OK, len: 1 }, 'the last sector');
    disk = fs.readFileSync(diskPath);
    assert.deepEqual(disk.subarray((DISK_SECTORS - 1) * SECTOR_SIZE), Buffer.alloc(SECTOR_SIZE));
    assert.equal(disk.length, DISK_SECTORS * SECTOR_SIZE);
    memory.writeBytes(DATA, segment(1, 0));
    assert.deepEqual(await r.send(BlkRequestType.WRITE_ZEROES, 0, writeFrom(16)), { status: BlkStatus.OK, len: 1 }, 'zero sectors');
    assert.deepEqual(fs.readFileSync(diskPath).subarray(SECTOR_SIZE, 2 * SECTOR_SIZE), sector(1));
    for (const length of [0, 15, 17]) assert.equal((await r.send(BlkRequestType.DISCARD, 0, length === 0 ? [] : writeFrom(length))).status, BlkStatus.IOERR, `${length} segment bytes`);
    assert.equal(r.counters.get('ok'), 3);
    assert.equal(r.counters.get('ioerr'), 3);
  });

  it('5.2.6.2: a segment of exactly max_discard_sectors is zeroed; one sector more is IOERR even on a disk that has room for it', async () => {
    const big = path.join(dir, 'big.img');
    const sectors = 2 * MAX_DISCARD_SECTORS + 8;
    fs.writeFileSync(big, Buffer.alloc(0));
    fs.truncateSync(big, sectors * SECTOR_SIZE);
    fs.writeSync(open(big, 'r+'), Buffer.alloc(SECTOR_SIZE, 0x42), 0, SECTOR_SIZE, (MAX_DISCARD_SECTORS + 1) * SECTOR_SIZE);
    const r = rig({ fd: open(big, 'r+'), sectors: BigInt(sectors) });
    const segment = Buffer.alloc(16);
    segment.writeBigUInt64LE(2n, 0);
    segment.writeUInt32LE(MAX_DISCARD_SECTORS, 8);
    memory.writeBytes(DATA, segment);
    assert.deepEqual(await r.send(BlkRequestType.WRITE_ZEROES, 0, writeFrom(16)), { status: BlkStatus.OK, len: 1 });
    const tail = Buffer.alloc(SECTOR_SIZE);
    fs.readSync(open(big, 'r'), tail, 0, SECTOR_SIZE, (MAX_DISCARD_SECTORS + 1) * SECTOR_SIZE);
    assert.deepEqual(tail, Buffer.alloc(SECTOR_SIZE), 'the last sector of the segment is zeroed');
    segment.writeUInt32LE(MAX_DISCARD_SECTORS + 1, 8);
    memory.writeBytes(DATA, segment);
    assert.deepEqual(await r.send(BlkRequestType.DISCARD, 0, writeFrom(16)), { status: BlkStatus.IOERR, len: 1 });
    assert.equal(fs.statSync(big).size, sectors * SECTOR_SIZE);
  });

  it('reconfigure (a swapped backing file): the next request reads the new file, with the new capacity and read-only flag', async () => {
    const r = rig();
    assert.deepEqual(await r.send(BlkRequestType.IN, 9, readInto(SECTOR_SIZE)), { status: BlkStatus.OK, len: SECTOR_SIZE + 1 });
    const other = path.join(dir, 'other.img');
    fs.writeFileSync(other, Buffer.alloc(16 * SECTOR_SIZE, 0x3c));
    r.backend.reconfigure({ fd: open(other, 'r'), sectors: 16n, readOnly: true, id: Buffer.from('other') });
    assert.deepEqual(await r.send(BlkRequestType.IN, 9, readInto(SECTOR_SIZE)), { status: BlkStatus.OK, len: SECTOR_SIZE + 1 });
    assert.deepEqual(Buffer.from(memory.readBytes(DATA, SECTOR_SIZE)), Buffer.alloc(SECTOR_SIZE, 0x3c));
    assert.equal((await r.send(BlkRequestType.IN, 16, readInto(SECTOR_SIZE))).status, BlkStatus.IOERR, 'the new capacity');
    assert.equal((await r.send(BlkRequestType.OUT, 0, writeFrom(SECTOR_SIZE))).status, BlkStatus.IOERR, 'now read-only');
    assert.deepEqual(await r.send(BlkRequestType.GET_ID, 0, readInto(20)), { status: BlkStatus.OK, len: 21 });
    assert.equal(Buffer.from(memory.readBytes(DATA, 5)).toString(), 'other');
  });

  it('5.2.6.2: FLUSH on a read-only disk is OK without syncing anything (the file may not even be syncable)', async () => {
    const r = rig({ fd: open('/dev/null', 'r'), readOnly: true });
    assert.deepEqual(await r.send(BlkRequestType.FLUSH, 0), { status: BlkStatus.OK, len: 1 });
    assert.equal(r.counters.get('flushes'), 1);
  });

  it('5.2.6.2: a host I/O error is IOERR for that request and the device lives on: fsync refused, ENOSPC, EBADF, a short read', async () => {
    const flush = rig({ fd: open('/dev/null', 'r+') });
    assert.deepEqual(await flush.send(BlkRequestType.FLUSH, 0), { status: BlkStatus.IOERR, len: 1 }, 'fsync EINVAL');
    const full = rig({ fd: open('/dev/full', 'r+') });
    assert.deepEqual(await full.send(BlkRequestType.OUT, 0, writeFrom(SECTOR_SIZE)), { status: BlkStatus.IOERR, len: 1 }, 'ENOSPC');
    assert.equal(full.counters.get('writes'), 0, 'a write that threw is not counted as done');
    memory.writeBytes(DATA, Buffer.alloc(16, 0));
    memory.writeU32(DATA + 8, 1);
    assert.deepEqual(await full.send(BlkRequestType.WRITE_ZEROES, 0, writeFrom(16)), { status: BlkStatus.IOERR, len: 1 }, 'ENOSPC zeroing');
    const readOnlyFd = rig({ fd: open(diskPath, 'r') });
    memory.writeBytes(DATA, Buffer.alloc(SECTOR_SIZE, 3));
    assert.deepEqual(await readOnlyFd.send(BlkRequestType.OUT, 0, writeFrom(SECTOR_SIZE)), { status: BlkStatus.IOERR, len: 1 }, 'EBADF');
    // The back end believes the disk is larger than the file: a read past the file's end comes back short.
    const short = rig({ sectors: BigInt(DISK_SECTORS + 8) });
    assert.deepEqual(await short.send(BlkRequestType.IN, DISK_SECTORS - 1, readInto(2 * SECTOR_SIZE)), { status: BlkStatus.IOERR, len: 1 }, 'short read');
    assert.equal(short.counters.get('readBytes'), 0);
    assert.equal(short.counters.get('reads'), 1);
    const dirFd = rig({ fd: open(dir, 'r') });
    assert.deepEqual(await dirFd.send(BlkRequestType.IN, 0, readInto(SECTOR_SIZE)), { status: BlkStatus.IOERR, len: 1 }, 'EISDIR');
    for (const r of [flush, full, readOnlyFd, short, dirFd]) {
      assert.equal(r.transport.status & DeviceStatus.DEVICE_NEEDS_RESET, 0);
      assert.equal(r.backend.error, undefined);
      assert.ok(r.counters.get('ioerr') >= 1);
      assert.equal(r.counters.get('ok'), 0);
    }
    assert.deepEqual(fs.readFileSync(diskPath).subarray(0, SECTOR_SIZE), sector(0), 'the refused write left the file');
    assert.deepEqual(await readOnlyFd.send(BlkRequestType.IN, 0, readInto(SECTOR_SIZE)), { status: BlkStatus.OK, len: SECTOR_SIZE + 1 }, 'the next request is served');
  });

  it('an error that is not an errno error is the host\'s bug: the device stops (NEEDS_RESET) and keeps the error', async () => {
    const r = rig({ fd: 2 ** 40 });
    r.offer(BlkRequestType.IN, 0, readInto(SECTOR_SIZE));
    r.backend.notify();
    await r.backend.idle();
    assert.ok(r.backend.error instanceof RangeError, String(r.backend.error));
    assert.notEqual(r.transport.status & DeviceStatus.DEVICE_NEEDS_RESET, 0);
    assert.equal(r.queue.usedIndex(), 0);
  });

  it('counts service time: serviceNs is positive and no more than the time the requests took', async () => {
    const r = rig();
    const started = process.hrtime.bigint();
    for (let i = 0; i < 4; i++) await r.send(BlkRequestType.IN, i, readInto(SECTOR_SIZE));
    const elapsed = Number(process.hrtime.bigint() - started);
    const service = r.counters.get('serviceNs');
    assert.ok(service > 0 && service <= elapsed, `serviceNs ${service}, elapsed ${elapsed}`);
  });

  it(`serves at most BLK_BYTES_PER_TURN (${BLK_BYTES_PER_TURN / MIB} MiB) per turn, then goes on in a later turn`, async () => {
    const requests = BLK_BYTES_PER_TURN / MIB + 1;
    const r = rig({}, { size: 32 });
    for (let i = 0; i < requests; i++) {
      const header = Buffer.alloc(BLK_HEADER_SIZE);
      header.writeUInt32LE(BlkRequestType.IN, 0);
      header.writeBigUInt64LE(BigInt(i), 8);
      memory.writeBytes(HEADER + i * BLK_HEADER_SIZE, header);
      memory.writeU8(STATUS + i, 0xff);
      const buffers = [{ address: HEADER + i * BLK_HEADER_SIZE, length: BLK_HEADER_SIZE, writable: false }, ...readInto(MIB), { address: STATUS + i, length: 1, writable: true }];
      r.queue.makeAvailable(r.queue.writeChain(3 * i, buffers));
    }
    r.backend.notify();
    assert.equal(r.queue.usedIndex(), requests - 1, 'the first turn stops once 8 MiB have moved');
    await r.backend.idle();
    assert.equal(r.queue.usedIndex(), requests, 'a later turn serves the rest');
    for (let i = 0; i < requests; i++) assert.equal(memory.readU8(STATUS + i), BlkStatus.OK);
    assert.equal(r.counters.get('readBytes'), requests * MIB);
  });

  it(`serves at most BLK_CHAINS_PER_TURN (${BLK_CHAINS_PER_TURN}) chains per turn, however fast the driver refills the queue`, async () => {
    const total = BLK_CHAINS_PER_TURN + 40;
    const refilling = refillingMemory(memory, total);
    const r = rig({}, { memory: refilling.memory, size: 4 });
    refilling.queue = r.queue;
    r.offer(99, 0);
    refilling.offered = 1;
    r.backend.notify();
    assert.equal(r.queue.usedIndex(), BLK_CHAINS_PER_TURN, 'one turn serves 256 chains');
    await r.backend.idle();
    assert.equal(r.queue.usedIndex(), total, 'later turns serve the rest');
    assert.equal(memory.readU16(r.queue.config.availRing + Avail.IDX), total);
    assert.equal(r.counters.get('unsupp'), total);
  });
});
