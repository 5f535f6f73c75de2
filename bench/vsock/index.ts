// bench/vsock: virtio-vsock stream throughput through the bundled guest's ring-3 client, each
// direction against a Unix stream socket between two ends in this process, in the same run (the
// host side of vsock is such a socket: Firecracker's hybrid <path>_<port> scheme).
//   guest -> host: the guest connects to host port P and sends N KiB in 4 KiB packets.
//   host -> guest: the guest connects to P and the host end sends it N KiB.
// The guest keeps one packet in flight per queue. Prints "tx ratio R" and "rx ratio R" (guest / host MiB/s).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { VirtioVsockDevice } from '../../lib/devices/virtio/vsock/device';
import { makeSocketDir } from '../../test/helpers/socket-dir';
import { measureRate, timeGuestBench } from '../guest-bench';

const SMALL_KIB = Number(process.env.VSOCK_KIB_SMALL ?? 8 * 1024);
const LARGE_KIB = Number(process.env.VSOCK_KIB_LARGE ?? 64 * 1024);
const PORT = 5201;
const CID = 3n;
const KiB = 1024;
const CHUNK = 64 * KiB;

/** A host end on <socketPath>_<PORT>: drains what it gets, or sends `sendKib` once connected. */
function hostEnd(socketPath: string, sendKib: number): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    if (sendKib > 0) writeStream(socket, sendKib * KiB);
  });
  return new Promise((resolve, reject) => server.once('error', reject).listen(`${socketPath}_${PORT}`, () => resolve(server)));
}

/** Writes `bytes` in CHUNK pieces, honouring the socket's back-pressure. */
function writeStream(socket: net.Socket, bytes: number): void {
  const chunk = Buffer.alloc(CHUNK, 0x5a);
  let left = bytes;
  const pump = (): void => {
    while (left > 0) {
      const part = chunk.subarray(0, Math.min(CHUNK, left));
      left -= part.length;
      if (!socket.write(part)) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

async function guestMs(dir: string, bench: 'vsock-tx' | 'vsock-rx', kib: number): Promise<number> {
  const socketPath = path.join(dir, 'vm.sock');
  const server = await hostEnd(socketPath, bench === 'vsock-rx' ? kib : 0);
  try {
    return await timeGuestBench({
      bench,
      count: kib,
      cmdline: `nodevmm.vsock=${PORT}`,
      devices: () => [new VirtioVsockDevice({ cid: CID, socketPath })],
    });
  } finally {
    server.close();
  }
}

/** The baseline: `kib` KiB from a client to a server over a Unix stream socket in this process. */
async function hostMs(dir: string, kib: number): Promise<number> {
  const socketPath = path.join(dir, 'baseline.sock');
  fs.rmSync(socketPath, { force: true });
  let received = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const server = net.createServer((socket) =>
    socket.on('data', (data: Buffer) => {
      received += data.length;
      if (received >= kib * KiB) done();
    }),
  );
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, resolve));
  const started = process.hrtime.bigint();
  const client = net.connect(socketPath, () => writeStream(client, kib * KiB));
  await finished;
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  client.destroy();
  server.close();
  return elapsed;
}

const mibPerSecond = (kibPerSecond: number): number => kibPerSecond / 1024;

async function main(): Promise<void> {
  const dir = makeSocketDir('node-vmm-bench-vsock-');
  try {
    await guestMs(dir, 'vsock-tx', 256); // warm-up
    const host = mibPerSecond(await measureRate(SMALL_KIB, LARGE_KIB, (kib) => hostMs(dir, kib)));
    for (const [name, bench] of [['tx (guest -> host)', 'vsock-tx'], ['rx (host -> guest)', 'vsock-rx']] as const) {
      const guest = mibPerSecond(await measureRate(SMALL_KIB, LARGE_KIB, (kib) => guestMs(dir, bench, kib)));
      console.log(`${name}: guest ${guest.toFixed(1)} MiB/s, host Unix socket ${host.toFixed(1)} MiB/s (${SMALL_KIB} vs ${LARGE_KIB} KiB)`);
      console.log(`${bench.slice(6)} ratio ${(guest / host).toFixed(3)}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
