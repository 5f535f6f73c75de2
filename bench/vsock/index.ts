// bench/vsock: virtio-vsock stream throughput through the bundled guest's ring-3 client at depth 1
// and 32, each direction against a Unix stream socket between two ends in this process, in the same
// run (the host side of vsock is such a socket: Firecracker's hybrid <path>_<port> scheme).
//   guest -> host: the guest connects to host port P and sends N KiB in 4 KiB packets.
//   host -> guest: the guest connects to P and the host end sends it N KiB.
// The guest keeps up to D packets in flight per queue. Prints, per depth D: "depth D tx ratio R" and
// "depth D rx ratio R" (guest / host MiB/s), the CPU time per MiB on both sides (this process, all
// threads), and how a 10 ms interval on the main thread kept up while the guest ran.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { VirtioVsockDevice } from '../../lib/devices/virtio/vsock/device';
import { makeSocketDir } from '../../test/helpers/socket-dir';
import { BENCH_DEPTHS, cpuMsOf, measureRate, Rate, Sample, ticksLine, timeGuestBench } from '../guest-bench';

const SMALL_KIB = Number(process.env.VSOCK_KIB_SMALL ?? 8 * 1024);
const LARGE_KIB = Number(process.env.VSOCK_KIB_LARGE ?? 64 * 1024);
const PORT = 5201;
const CID = 3;
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

async function guestRun(dir: string, bench: 'vsock-tx' | 'vsock-rx', depth: number, kib: number): Promise<Sample> {
  const socketPath = path.join(dir, 'vm.sock');
  const server = await hostEnd(socketPath, bench === 'vsock-rx' ? kib : 0);
  try {
    return await timeGuestBench({
      bench,
      count: kib,
      depth,
      cmdline: `nodevmm.vsock=${PORT}`,
      devices: () => [new VirtioVsockDevice({ cid: CID, socketPath })],
    });
  } finally {
    server.close();
  }
}

/** The baseline: `kib` KiB from a client to a server over a Unix stream socket in this process. */
async function hostRun(dir: string, kib: number): Promise<Sample> {
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
  const cpu = cpuMsOf();
  const started = process.hrtime.bigint();
  const client = net.connect(socketPath, () => writeStream(client, kib * KiB));
  await finished;
  const sample = { ms: Number(process.hrtime.bigint() - started) / 1e6, cpuMs: cpu() };
  client.destroy();
  server.close();
  return sample;
}

const mib = (rate: Rate): number => rate.perSecond / KiB;
const cpuPerMib = (rate: Rate): number => rate.cpuMsPerUnit * KiB;

async function main(): Promise<void> {
  const dir = makeSocketDir('node-vmm-bench-vsock-');
  try {
    await guestRun(dir, 'vsock-tx', 1, 256); // warm-up
    const host = await measureRate(SMALL_KIB, LARGE_KIB, (kib) => hostRun(dir, kib));
    for (const depth of BENCH_DEPTHS) {
      for (const [name, bench] of [['tx (guest -> host)', 'vsock-tx'], ['rx (host -> guest)', 'vsock-rx']] as const) {
        const direction = bench.slice(6);
        const guest = await measureRate(SMALL_KIB, LARGE_KIB, (kib) => guestRun(dir, bench, depth, kib));
        console.log(`depth ${depth} ${name}: guest ${mib(guest).toFixed(1)} MiB/s, host Unix socket ${mib(host).toFixed(1)} MiB/s (${depth} packets in flight, ${SMALL_KIB} vs ${LARGE_KIB} KiB)`);
        console.log(`depth ${depth} ${direction} ratio ${(mib(guest) / mib(host)).toFixed(3)}`);
        console.log(`depth ${depth} ${direction} cpu per MiB: node-vmm ${cpuPerMib(guest).toFixed(2)} ms, host ${cpuPerMib(host).toFixed(2)} ms`);
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
