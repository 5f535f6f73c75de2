// bench/blk: virtio-blk throughput through a guest driver against the host reading/writing the same
// file the same way, in the same run. The guest (test/guests/virtio-driver.S) offers 16 requests of
// 64 KiB per round, for two round counts; the difference cancels VM start-up. Each round reuses the
// same 16 requests (the same 1 MiB of the file, in the page cache on both sides), so this measures
// the request path (ring, ioeventfd, back end, readv/writev into guest memory), not the disk.
// Prints "read ratio R" and "write ratio R": guest throughput / host throughput.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BlockFile, blkDevice, BlkFeature, VirtioBlkBackend } from '../../lib/devices/virtio/blk';
import { BlkRequestType, SECTOR_SIZE } from '../../lib/devices/virtio/blk-request';
import { InterruptBit, VirtioFeature } from '../../lib/devices/virtio/mmio-registers';
import { DescFlag } from '../../lib/devices/virtio/split-ring-layout';
import { buildGuests } from '../../test/guests/build';
import { QUEUE_SIZE, runVirtioGuest } from '../../test/helpers/virtio-guest';
import type { TestDriver } from '../../test/helpers/virtqueue-driver';

const REQUEST_BYTES = 64 * 1024;
const SMALL = Number(process.env.BLK_ROUNDS_SMALL ?? 16);
const LARGE = Number(process.env.BLK_ROUNDS_LARGE ?? 128);
const HEADERS = 0x300000;
const STATUSES = 0x310000;
const TABLES = 0x320000;
const DATA = 0x400000;
const MEMORY = 8 * 1024 * 1024;
const FILE_BYTES = QUEUE_SIZE * REQUEST_BYTES;
const MiB = 1024 * 1024;

/** Request i: an indirect table of header, 64 KiB of data, status; descriptor i points to it. */
function layOutRequests(type: number) {
  return (queue: TestDriver): number[] =>
    Array.from({ length: QUEUE_SIZE }, (_, i) => {
      const header = Buffer.alloc(16);
      header.writeUInt32LE(type, 0);
      header.writeBigUInt64LE(BigInt((i * REQUEST_BYTES) / SECTOR_SIZE), 8);
      queue.memory.writeBytes(HEADERS + i * 16, header);
      const table = TABLES + i * 3 * 16;
      const dataFlags = type === BlkRequestType.IN ? DescFlag.WRITE : 0;
      queue.writeDescriptor(0, { address: HEADERS + i * 16, length: 16, flags: DescFlag.NEXT, next: 1 }, table);
      queue.writeDescriptor(1, { address: DATA + i * REQUEST_BYTES, length: REQUEST_BYTES, flags: dataFlags | DescFlag.NEXT, next: 2 }, table);
      queue.writeDescriptor(2, { address: STATUSES + i, length: 1, flags: DescFlag.WRITE, next: 0 }, table);
      queue.writeDescriptor(i, { address: table, length: 3 * 16, flags: DescFlag.INDIRECT, next: 0 });
      return i;
    });
}

async function guestMs(file: BlockFile, type: number, rounds: number): Promise<number> {
  let backend: VirtioBlkBackend | undefined;
  const result = await runVirtioGuest({
    device: { device: blkDevice(file), backend: (context) => (backend = new VirtioBlkBackend(context, file)) },
    features: (1n << VirtioFeature.VERSION_1) | (1n << VirtioFeature.INDIRECT_DESC) | (1n << BlkFeature.FLUSH),
    memorySize: MEMORY,
    rounds,
    layOut: layOutRequests(type),
  });
  if (result.exit.reason !== 'exited' || result.exit.status !== InterruptBit.USED_BUFFER) throw new Error(`guest ended ${result.exit.reason} (status ${result.exit.status})`);
  if (backend?.completed.ok !== QUEUE_SIZE * rounds) throw new Error(`${backend?.completed.ok} of ${QUEUE_SIZE * rounds} requests completed`);
  return result.elapsedMs;
}

/** The host doing the same: 16 reads or writes of 64 KiB at the same offsets, `rounds` times. */
function hostMs(filePath: string, type: number, rounds: number): number {
  const fd = fs.openSync(filePath, 'r+');
  const buffer = Buffer.alloc(REQUEST_BYTES, 0x33);
  try {
    const started = process.hrtime.bigint();
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < QUEUE_SIZE; i++) {
        if (type === BlkRequestType.IN) fs.readSync(fd, buffer, 0, REQUEST_BYTES, i * REQUEST_BYTES);
        else fs.writeSync(fd, buffer, 0, REQUEST_BYTES, i * REQUEST_BYTES);
      }
    }
    return Number(process.hrtime.bigint() - started) / 1e6;
  } finally {
    fs.closeSync(fd);
  }
}

/** MiB/s from the difference between the large and the small run (fixed costs cancel). */
function throughput(smallMs: number, largeMs: number): number {
  const bytes = (LARGE - SMALL) * FILE_BYTES;
  return bytes / MiB / (Math.max(largeMs - smallMs, 1e-3) / 1000);
}

async function main(): Promise<void> {
  buildGuests();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-vmm-bench-blk-'));
  const filePath = path.join(dir, 'disk.img');
  fs.writeFileSync(filePath, Buffer.alloc(FILE_BYTES, 0x5a));
  const file = new BlockFile(filePath);
  try {
    for (const [name, type] of [['read', BlkRequestType.IN], ['write', BlkRequestType.OUT]] as const) {
      await guestMs(file, type, 2); // warm-up: page cache, JIT
      const guest = throughput(await guestMs(file, type, SMALL), await guestMs(file, type, LARGE));
      const host = throughput(hostMs(filePath, type, SMALL), hostMs(filePath, type, LARGE));
      console.log(`${name}: guest ${guest.toFixed(0)} MiB/s, host ${host.toFixed(0)} MiB/s (16 x 64 KiB requests per round, ${SMALL} vs ${LARGE} rounds)`);
      console.log(`${name} ratio ${(guest / host).toFixed(3)}`);
    }
  } finally {
    file.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
