// bench/blk: virtio-blk throughput through the bundled guest's ring-3 driver at depth 1 and 32
// against the host doing the same reads/writes the simplest fast way, in the same run. The guest
// (guest/bench.c) makes N requests of 64 KiB, D in flight, sequential over the first 4 MiB of the
// file (in the page cache on both sides), so this measures the request path (ring, notification,
// back end, preadv/pwritev into guest memory), not the disk. The baseline: one host thread doing
// synchronous preadv/pwritev (fs.readvSync/writevSync) of 64 KiB into D rotating buffers over the
// same 4 MiB of the same file. Timed at two N (medians of three), so boot cancels out. Prints, per
// depth D and direction: "depth D read ratio R" / "depth D write ratio R" (guest MiB/s / host MiB/s),
// the CPU time per MiB on both sides (this process, all threads), and how a 10 ms interval on the
// main thread kept up while the guest ran.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { VirtioBlkDevice } from '../../lib/devices/virtio/blk/device';
import { BENCH_DEPTHS, measureRate, Rate, Sample, ticksLine, timeGuestBench, timeSync } from '../guest-bench';

const REQUEST_BYTES = 64 * 1024;
const WINDOW_REQUESTS = 64;
const SMALL = Number(process.env.BLK_REQUESTS_SMALL ?? 2000);
const LARGE = Number(process.env.BLK_REQUESTS_LARGE ?? 20000);
const MiB = 1024 * 1024;

type Direction = 'read' | 'write';

function guestRun(filePath: string, direction: Direction, depth: number, requests: number): Promise<Sample> {
  return timeGuestBench({
    bench: direction === 'read' ? 'blk-read' : 'blk-write',
    count: requests,
    depth,
    devices: () => [new VirtioBlkDevice({ path: filePath })],
  });
}

/** The host doing the same: `requests` preadv/pwritev of 64 KiB at the same offsets, into `depth` rotating buffers. */
function hostRun(filePath: string, direction: Direction, depth: number, requests: number): Sample {
  const fd = fs.openSync(filePath, 'r+');
  const buffers = Array.from({ length: depth }, () => [Buffer.alloc(REQUEST_BYTES, 0x33)]);
  try {
    return timeSync(() => {
      for (let i = 0; i < requests; i++) {
        const offset = (i % WINDOW_REQUESTS) * REQUEST_BYTES;
        const buffer = buffers[i % depth] as Buffer[];
        if (direction === 'read') fs.readvSync(fd, buffer, offset);
        else fs.writevSync(fd, buffer, offset);
      }
    });
  } finally {
    fs.closeSync(fd);
  }
}

const mib = (rate: Rate): number => (rate.perSecond * REQUEST_BYTES) / MiB;
const cpuPerMib = (rate: Rate): number => (rate.cpuMsPerUnit * MiB) / REQUEST_BYTES;

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-vmm-bench-blk-'));
  const filePath = path.join(dir, 'disk.img');
  fs.writeFileSync(filePath, Buffer.alloc(WINDOW_REQUESTS * REQUEST_BYTES, 0x5a));
  try {
    await guestRun(filePath, 'read', 1, 200); // warm-up: page cache, JIT
    for (const direction of ['read', 'write'] as const) {
      for (const depth of BENCH_DEPTHS) {
        const guest = await measureRate(SMALL, LARGE, (n) => guestRun(filePath, direction, depth, n));
        const host = await measureRate(SMALL, LARGE, (n) => hostRun(filePath, direction, depth, n));
        console.log(`depth ${depth} ${direction}: guest ${mib(guest).toFixed(0)} MiB/s, host ${mib(host).toFixed(0)} MiB/s (64 KiB requests over 4 MiB, ${depth} in flight; host: one thread, ${depth} rotating buffers; ${SMALL} vs ${LARGE})`);
        console.log(`depth ${depth} ${direction} ratio ${(mib(guest) / mib(host)).toFixed(3)}`);
        console.log(`depth ${depth} ${direction} cpu per MiB: node-vmm ${cpuPerMib(guest).toFixed(3)} ms, host ${cpuPerMib(host).toFixed(3)} ms`);
        console.log(ticksLine(`depth ${depth} ${direction}`, guest));
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
