// bench/blk: virtio-blk throughput through the bundled guest's ring-3 driver against the host
// reading/writing the same file the same way, in the same run. The guest (guest/bench.c) makes N
// requests of 64 KiB, one in flight, cycling over the first 1 MiB of the file (in the page cache on
// both sides), so this measures the request path (ring, ioeventfd, back end, readv/writev straight
// into guest memory), not the disk. Timed at two N (medians of three), so boot cancels out.
// Prints "read ratio R" and "write ratio R": guest throughput / host throughput.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { VirtioBlkDevice } from '../../lib/devices/virtio/blk/device';
import { measureRate, timeGuestBench } from '../guest-bench';

const REQUEST_BYTES = 64 * 1024;
const WINDOW_REQUESTS = 16;
const SMALL = Number(process.env.BLK_REQUESTS_SMALL ?? 2000);
const LARGE = Number(process.env.BLK_REQUESTS_LARGE ?? 20000);
const MiB = 1024 * 1024;

type Direction = 'read' | 'write';

function guestMs(filePath: string, direction: Direction, requests: number): Promise<number> {
  return timeGuestBench({
    bench: direction === 'read' ? 'blk-read' : 'blk-write',
    count: requests,
    devices: () => [new VirtioBlkDevice({ path: filePath })],
  });
}

/** The host doing the same: `requests` reads or writes of 64 KiB at the same offsets. */
function hostMs(filePath: string, direction: Direction, requests: number): number {
  const fd = fs.openSync(filePath, 'r+');
  const buffer = Buffer.alloc(REQUEST_BYTES, 0x33);
  try {
    const started = process.hrtime.bigint();
    for (let i = 0; i < requests; i++) {
      const offset = (i % WINDOW_REQUESTS) * REQUEST_BYTES;
      if (direction === 'read') fs.readSync(fd, buffer, 0, REQUEST_BYTES, offset);
      else fs.writeSync(fd, buffer, 0, REQUEST_BYTES, offset);
    }
    return Number(process.hrtime.bigint() - started) / 1e6;
  } finally {
    fs.closeSync(fd);
  }
}

const mibPerSecond = (requestsPerSecond: number): number => (requestsPerSecond * REQUEST_BYTES) / MiB;

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-vmm-bench-blk-'));
  const filePath = path.join(dir, 'disk.img');
  fs.writeFileSync(filePath, Buffer.alloc(WINDOW_REQUESTS * REQUEST_BYTES, 0x5a));
  try {
    await guestMs(filePath, 'read', 200); // warm-up: page cache, JIT
    for (const direction of ['read', 'write'] as const) {
      const guest = mibPerSecond(await measureRate(SMALL, LARGE, (n) => guestMs(filePath, direction, n)));
      const host = mibPerSecond(await measureRate(SMALL, LARGE, (n) => hostMs(filePath, direction, n)));
      console.log(`${direction}: guest ${guest.toFixed(0)} MiB/s, host ${host.toFixed(0)} MiB/s (64 KiB requests, one in flight, ${SMALL} vs ${LARGE})`);
      console.log(`${direction} ratio ${(guest / host).toFixed(3)}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
