// Hostile descriptor chains fed to each device's queue handlers through the transport: random
// addresses, lengths, flags, next indices, heads and packet contents. No exception may escape, the
// host never touches memory outside guest RAM (GuestMemory refuses, the queue fails first), and each
// queue ends either fully answered or with the device in NEEDS_RESET.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeviceStatus, VirtioFeature } from '../../lib/devices/virtio/transport/mmio-registers';
import { createVirtioMmioState, type VirtioDeviceDescription } from '../../lib/devices/virtio/transport/mmio-state';
import { VirtioMmioTransport } from '../../lib/devices/virtio/transport/mmio-transport';
import type { BackendContext, VirtioBackend } from '../../lib/devices/virtio/transport/backend';
import { RX_QUEUE, TX_QUEUE, VirtioNetBackend } from '../../lib/devices/virtio/net/backend';
import { netDescription as netDevice } from '../../lib/devices/virtio/net/device';
import type { FrameDevice } from '../../lib/devices/virtio/net/frames';
import { parseMac } from '../../lib/devices/virtio/net/mac';
import { VirtioVsockBackend, VSOCK_RX_QUEUE, VSOCK_TX_QUEUE } from '../../lib/devices/virtio/vsock/backend';
import { vsockDescription as vsockDevice } from '../../lib/devices/virtio/vsock/device';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { VirtioBlkBackend } from '../../lib/devices/virtio/blk/backend';
import { blkDescription as blkDevice } from '../../lib/devices/virtio/blk/device';
import { BlockFile } from '../../lib/devices/virtio/blk/file';
import { BLK_HEADER_SIZE, BLK_SEGMENT_SIZE, BLK_WRITE_ZEROES_UNMAP, BlkRequestType, BlkStatus, MAX_DISCARD_SECTORS, SECTOR_SIZE } from '../../lib/devices/virtio/blk/request';
import { VirtioRngBackend } from '../../lib/devices/virtio/rng/backend';
import { rngDescription as rngDevice } from '../../lib/devices/virtio/rng/device';
import { MmioDriver } from '../helpers/mmio-driver';
import { fuzzIterations, fuzzSeed, fuzzTimeout, reportChains } from '../helpers/fuzz-config';
import { Prng } from '../helpers/prng';
import { StrictMemory } from '../helpers/strict-memory';
import { UsedRingOracle } from '../helpers/used-ring-oracle';
import { TestDriver } from '../helpers/virtqueue-driver';

const RAM = 1024 * 1024;
const RINGS = 0x10000;
const RING_STRIDE = 0x4000;
const DATA = 0x40000;
const DEFAULT_CHAINS = 10_000;
const CHAINS = fuzzIterations(DEFAULT_CHAINS);

/** A TAP stand-in: frames written are counted, reads find a frame now and then. */
class FuzzFrames implements FrameDevice {
  watching = false;
  written = 0;
  constructor(private readonly rng: Prng) {}
  read(into: Uint8Array[]): number | null {
    if (this.rng.chance(0.3)) return null;
    const frame = 60 + this.rng.below(1500);
    let left = frame;
    for (const view of into) {
      const n = Math.min(view.length, left);
      view.fill(0xab, 0, n);
      left -= n;
    }
    return frame;
  }
  write(): number | null {
    this.written++;
    return 1;
  }
  watch(): void {
    this.watching = true;
  }
  unwatch(): void {
    this.watching = false;
  }
}

interface FuzzTarget {
  name: string;
  device: VirtioDeviceDescription;
  queues: number[];
  backend(context: BackendContext): VirtioBackend;
  /** Writes the queue's descriptors and returns the heads to offer (default: random and hostile chains). */
  chains?(rng: Prng, queue: TestDriver, memory: GuestMemory): number[];
  /** Checks the round's outcome beyond the oracles (e.g. the status blk gave each request). */
  afterRound?(memory: GuestMemory): void;
}

function randomChains(rng: Prng, queue: TestDriver, memory: GuestMemory): number[] {
  const size = queue.config.size;
  for (let i = 0; i < size; i++) {
    const hostile = rng.chance(0.25);
    queue.writeDescriptor(i, {
      address: hostile ? BigInt(rng.u32()) * BigInt(1 + rng.below(1 << 20)) : DATA + rng.below(0x2000) * 64,
      length: hostile ? rng.u32() : rng.pick([0, 1, 12, 44, 64, 1514, 4096, rng.below(8192)]),
      flags: hostile ? rng.below(8) : rng.below(3),
      next: rng.below(size + 1),
    });
  }
  for (let at = DATA; at < DATA + 0x800; at += 4) memory.writeU32(at, rng.u32());
  return Array.from({ length: 1 + rng.below(size) }, () => (rng.chance(0.95) ? rng.below(size) : rng.below(0x10000)));
}

/**
 * Drives a device the way a driver can (every offered feature accepted, FEATURES_OK and DRIVER_OK
 * set, rings zeroed) and feeds it hostile chains; the memory and used-ring oracles judge each round.
 */
function fuzz(target: FuzzTarget, seed: number): { chains: number; resets: number } {
  const rng = new Prng(seed);
  const memory = GuestMemory.allocate(ramLayout(RAM));
  const strict = new StrictMemory(memory);
  let chains = 0;
  let resets = 0;
  try {
    while (chains < CHAINS) {
      const transport = new VirtioMmioTransport(createVirtioMmioState(target.device));
      const backend = target.backend({ transport, memory: strict.memory, signal: () => {} });
      try {
        const driver = new MmioDriver(transport);
        const offered = driver.deviceFeatures();
        assert.notEqual(driver.negotiate(offered) & DeviceStatus.FEATURES_OK, 0, `${target.name} accepts every feature it offers`);
        const has = (bit: bigint): boolean => (offered & (1n << bit)) !== 0n;
        const queues = target.queues.map((q) => new TestDriver(memory, RINGS + q * RING_STRIDE, 1 << rng.below(6), { indirect: has(VirtioFeature.INDIRECT_DESC), eventIdx: has(VirtioFeature.EVENT_IDX) }));
        const oracles = queues.map((queue) => {
          queue.clearRings();
          strict.watchUsedRing(queue.config.usedRing, queue.config.size);
          return new UsedRingOracle(queue);
        });
        queues.forEach((queue, q) => driver.setupQueue(target.queues[q] as number, queue.config));
        driver.driverOk();
        assert.notEqual(transport.status & DeviceStatus.DRIVER_OK, 0, `${target.name} reaches DRIVER_OK`);
        backend.activate();
        for (const [q, queue] of queues.entries()) {
          const heads = (target.chains ?? randomChains)(rng, queue, memory);
          for (const head of heads) {
            queue.makeAvailable(head);
            oracles[q]?.offered(head);
          }
          chains += heads.length;
          backend.notify(target.queues[q] as number);
        }
        const broken = (transport.status & DeviceStatus.DEVICE_NEEDS_RESET) !== 0;
        if (broken) resets++;
        const context = `${target.name} seed 0x${seed.toString(16)}, chain ${chains}`;
        oracles.forEach((oracle, q) => {
          if (broken) oracle.check();
          else oracle.assertNoneLost(transport.queueIndices(target.queues[q] as number).nextAvail);
          oracle.assertClean(`${context}, queue ${target.queues[q]}`);
        });
        strict.assertClean(context);
        if (!broken) target.afterRound?.(memory);
        assert.equal((backend as { error?: Error }).error, undefined, 'no host-side failure');
      } finally {
        backend.reset();
        void backend.quiesce?.();
      }
    }
  } finally {
    memory.dispose();
  }
  reportChains(chains);
  return { chains, resets };
}

const DISK_SECTORS = 64;
const BLK_HEADERS = 0xc0000;
const BLK_SEGMENTS = 0xc8000;
const BLK_STATUS = 0xd0000;
const BLK_TYPES = [BlkRequestType.IN, BlkRequestType.OUT, BlkRequestType.FLUSH, BlkRequestType.GET_ID, BlkRequestType.DISCARD, BlkRequestType.WRITE_ZEROES, 2, 0xffffffff];

/** The status a conforming virtio-blk gives a well-formed request (virtio 1.2, 5.2.6.2). */
function blkExpectedStatus(type: number, sector: bigint, dataBytes: number, segment: { sector: bigint; sectors: number; flags: number } | undefined): number {
  const inDisk = (start: bigint, sectors: bigint): boolean => start + sectors <= BigInt(DISK_SECTORS);
  switch (type) {
    case BlkRequestType.IN:
    case BlkRequestType.OUT:
      return dataBytes % SECTOR_SIZE === 0 && inDisk(sector, BigInt(dataBytes / SECTOR_SIZE)) ? BlkStatus.OK : BlkStatus.IOERR;
    case BlkRequestType.FLUSH:
    case BlkRequestType.GET_ID:
      return BlkStatus.OK;
    case BlkRequestType.DISCARD:
    case BlkRequestType.WRITE_ZEROES: {
      if (segment === undefined) return BlkStatus.IOERR;
      const unknownFlags = type === BlkRequestType.DISCARD ? segment.flags : segment.flags & ~BLK_WRITE_ZEROES_UNMAP;
      if (unknownFlags !== 0) return BlkStatus.UNSUPP;
      return segment.sectors <= MAX_DISCARD_SECTORS && inDisk(segment.sector, BigInt(segment.sectors)) ? BlkStatus.OK : BlkStatus.IOERR;
    }
    default:
      return BlkStatus.UNSUPP;
  }
}

/** virtio-blk requests of every type, at, across and past the disk's end, mixed with hostile chains. */
class BlkRequests {
  readonly #expected = new Map<number, { status: number; what: string }>();

  chains(rng: Prng, queue: TestDriver, memory: GuestMemory): number[] {
    this.#expected.clear();
    if (rng.chance(0.15)) return randomChains(rng, queue, memory);
    const heads: number[] = [];
    const near = (): bigint => rng.pick([0n, BigInt(DISK_SECTORS - 2), BigInt(DISK_SECTORS - 1), BigInt(DISK_SECTORS), BigInt(DISK_SECTORS + 1), BigInt(rng.below(DISK_SECTORS)), 1n << 63n, (1n << 64n) - 1n]);
    for (let first = 0; first + 3 <= queue.config.size; first += 3) {
      const n = first / 3;
      const type = rng.pick(BLK_TYPES);
      const sector = near();
      const header = Buffer.alloc(BLK_HEADER_SIZE);
      header.writeUInt32LE(type >>> 0, 0);
      header.writeBigUInt64LE(sector, 8);
      memory.writeBytes(BLK_HEADERS + n * BLK_HEADER_SIZE, header);
      let data: { address: number; length: number; writable: boolean } | undefined;
      let segment: { sector: bigint; sectors: number; flags: number } | undefined;
      if (type === BlkRequestType.DISCARD || type === BlkRequestType.WRITE_ZEROES) {
        segment = { sector: near(), sectors: rng.pick([0, 1, 2, 8, MAX_DISCARD_SECTORS, MAX_DISCARD_SECTORS + 1]), flags: rng.pick([0, 0, BLK_WRITE_ZEROES_UNMAP, 2, 0x80000000]) };
        const bytes = Buffer.alloc(BLK_SEGMENT_SIZE);
        bytes.writeBigUInt64LE(segment.sector, 0);
        bytes.writeUInt32LE(segment.sectors, 8);
        bytes.writeUInt32LE(segment.flags >>> 0, 12);
        memory.writeBytes(BLK_SEGMENTS + n * BLK_SEGMENT_SIZE, bytes);
        data = { address: BLK_SEGMENTS + n * BLK_SEGMENT_SIZE, length: BLK_SEGMENT_SIZE, writable: false };
      } else if (type !== BlkRequestType.FLUSH) {
        data = { address: DATA + n * 0x1000, length: rng.pick([0, SECTOR_SIZE, 2 * SECTOR_SIZE, 8 * SECTOR_SIZE, SECTOR_SIZE - 1]), writable: type !== BlkRequestType.OUT };
      }
      const buffers = [{ address: BLK_HEADERS + n * BLK_HEADER_SIZE, length: BLK_HEADER_SIZE, writable: false }, ...(data === undefined ? [] : [data]), { address: BLK_STATUS + n, length: 1, writable: true }];
      memory.writeU8(BLK_STATUS + n, 0xff);
      const head = queue.writeChain(first, buffers);
      heads.push(head);
      this.#expected.set(n, { status: blkExpectedStatus(type, sector, data?.length ?? 0, segment), what: `type ${type} sector ${sector} data ${data?.length ?? '-'} segment ${JSON.stringify(segment, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}` });
    }
    return heads;
  }

  afterRound(memory: GuestMemory): void {
    for (const [n, { status, what }] of this.#expected) assert.equal(memory.readU8(BLK_STATUS + n), status, `blk request ${n} (${what}): status`);
  }
}

describe('hostile chains against every virtio device', () => {
  it(`virtio-blk: ${CHAINS} requests (seed 0x${fuzzSeed(0xb10c).toString(16)}) of every type at and past the disk's end, the host file never grows`, function () {
    this.timeout(fuzzTimeout(DEFAULT_CHAINS, 60_000));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'blk-fuzz-'));
    const disk = path.join(dir, 'disk.img');
    fs.writeFileSync(disk, Buffer.alloc(DISK_SECTORS * SECTOR_SIZE, 0xaa));
    const file = new BlockFile(disk, { id: 'fuzz' });
    try {
      const requests = new BlkRequests();
      const { chains, resets } = fuzz(
        {
          name: 'blk',
          device: blkDevice(file),
          queues: [0],
          backend: (context) => new VirtioBlkBackend(context, { fd: file.fd, sectors: file.sectors, readOnly: false, id: file.id }),
          chains: (rng, queue, memory) => requests.chains(rng, queue, memory),
          afterRound: (memory) => requests.afterRound(memory),
        },
        fuzzSeed(0xb10c),
      );
      console.log(`      ${chains} chains, ${resets} devices ended NEEDS_RESET`);
      assert.equal(fs.statSync(disk).size, DISK_SECTORS * SECTOR_SIZE, 'the host file keeps its size');
      assert.ok(chains >= CHAINS && resets > 0);
    } finally {
      file.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it(`virtio-rng: ${CHAINS} chains (seed 0x${fuzzSeed(0x4e6).toString(16)})`, () => {
    const { chains, resets } = fuzz({ name: 'rng', device: rngDevice(), queues: [0], backend: (context) => new VirtioRngBackend(context) }, fuzzSeed(0x4e6));
    console.log(`      ${chains} chains, ${resets} devices ended NEEDS_RESET`);
    assert.ok(chains >= CHAINS && resets > 0);
  });

  it(`virtio-net: ${CHAINS} chains (seed 0x${fuzzSeed(0x4e37).toString(16)}) on its receive and transmit queues`, () => {
    const seed = fuzzSeed(0x4e37);
    const rng = new Prng(seed);
    const { chains, resets } = fuzz(
      { name: 'net', device: netDevice(parseMac('52:54:00:00:00:01')), queues: [RX_QUEUE, TX_QUEUE], backend: (context) => new VirtioNetBackend(context, new FuzzFrames(rng)) },
      seed,
    );
    console.log(`      ${chains} chains, ${resets} devices ended NEEDS_RESET`);
    assert.ok(chains >= CHAINS && resets > 0);
  });

  it(`virtio-vsock: ${CHAINS} chains (seed 0x${fuzzSeed(0x750c).toString(16)}) with random packets on its receive and transmit queues`, function () {
    this.timeout(fuzzTimeout(DEFAULT_CHAINS, 60_000));
    const dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'vsock-fuzz-'));
    try {
      let n = 0;
      const { chains, resets } = fuzz(
        { name: 'vsock', device: vsockDevice(3n), queues: [VSOCK_RX_QUEUE, VSOCK_TX_QUEUE], backend: (context) => new VirtioVsockBackend(context, { guestCid: 3n, socketPath: path.join(dir, `s${n++}`) }) },
        fuzzSeed(0x750c),
      );
      console.log(`      ${chains} chains, ${resets} devices ended NEEDS_RESET`);
      assert.ok(chains >= CHAINS && resets > 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
