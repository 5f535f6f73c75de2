// bench/net: virtio-net frames per second through the bundled guest's ring-3 driver at depth 1 and
// 32, each direction against the host moving the same frames through the same TAPs itself, in the
// same run.
//   guest -> host: the guest sends 1514-byte frames; the device writes them to TAP A.
//                  baseline: this process writes the same frames to TAP A.
//   host -> guest: this process writes frames to TAP B; a bridge (in a network namespace) floods
//                  them to TAP A, where the device reads them into the guest's receive buffers.
//                  baseline: this process writes to TAP B and reads them back from TAP A.
// Both directions keep at most 128 frames ahead of A's reader (bench/net/taps.ts). Prints, per depth
// D: "depth D tx ratio R" and "depth D rx ratio R" (guest / host frames per second), the CPU time per
// frame on both sides (this process, all threads), and how a 10 ms interval on the main thread kept up
// while the guest ran. Needs root and /dev/net/tun.
import * as path from 'node:path';
import { NET_COUNTERS, type NetBackendArgs } from '../../lib/devices/virtio/net/backend';
import { netDescription } from '../../lib/devices/virtio/net/device';
import { parseMac } from '../../lib/devices/virtio/net/mac';
import { VirtioMmioDevice } from '../../lib/devices/virtio/transport/mmio-device';
import type { TapDevice } from '../../lib/net/tap';
import { BENCH_DEPTHS, measureRate, Rate, Sample, ticksLine, timeGuestBench, timeSync } from '../guest-bench';
import { BridgedTaps, drain, feedGuestSide, frame, FRAME_BYTES, WINDOW } from './taps';

const SMALL = Number(process.env.NET_FRAMES_SMALL ?? 5000);
const LARGE = Number(process.env.NET_FRAMES_LARGE ?? 50000);
const STALL_MS = 5000;

const NET_BACKEND = path.join(__dirname, '..', '..', 'lib', 'devices', 'virtio', 'net', 'backend.js');

/**
 * virtio-net as VirtioNetDevice builds it (its back end on node-vmm's I/O thread), over the bench's
 * own TAP: that one stays open across runs and in the namespace, where the device could not open it
 * by name.
 */
function netVirtio(tap: TapDevice): VirtioMmioDevice[] {
  const args: NetBackendArgs = { tapFd: tap.fd };
  return [new VirtioMmioDevice({ kind: 'virtio-net', idPrefix: 'net', device: netDescription(parseMac('52:54:00:00:be:01')), backend: { module: NET_BACKEND, args }, counters: NET_COUNTERS })];
}

function guestSide(taps: BridgedTaps): TapDevice {
  if (taps.guestSide === undefined) throw new Error('bench/net owns its TAPs');
  return taps.guestSide;
}

function guestTx(taps: BridgedTaps, depth: number, count: number): Promise<Sample> {
  return timeGuestBench({ bench: 'net-tx', count, depth, devices: () => netVirtio(guestSide(taps)) });
}

function hostTx(taps: BridgedTaps, count: number): Sample {
  const views = [frame()];
  const tap = guestSide(taps);
  const sample = timeSync(() => {
    for (let i = 0; i < count; i++) {
      if (tap.write(views) === null) throw new Error('TAP refused a frame');
    }
  });
  drain(taps.hostSide);
  return sample;
}

async function guestRx(taps: BridgedTaps, depth: number, count: number): Promise<Sample> {
  drain(guestSide(taps));
  let feeder: { stop: () => void } | undefined;
  try {
    return await timeGuestBench({ bench: 'net-rx', count, depth, devices: () => netVirtio(guestSide(taps)), started: () => (feeder = feedGuestSide(taps)) });
  } finally {
    feeder?.stop();
  }
}

function hostRx(taps: BridgedTaps, count: number): Sample {
  const tap = guestSide(taps);
  drain(tap);
  const views = [frame()];
  const scratch = [new Uint8Array(2048)];
  return timeSync(() => {
    let written = 0;
    let received = 0;
    let lastProgress = Date.now();
    while (received < count) {
      while (written < count && written - received < WINDOW && taps.hostSide.write(views) !== null) written++;
      while (tap.read(scratch) !== null) {
        received++;
        lastProgress = Date.now();
      }
      if (Date.now() - lastProgress > STALL_MS) throw new Error(`host rx baseline: ${received} of ${written} frames arrived`);
    }
  });
}

function report(depth: number, direction: 'tx' | 'rx', guest: Rate, host: Rate, what: string): void {
  console.log(`depth ${depth} ${direction} (${what}): guest ${guest.perSecond.toFixed(0)} frames/s, host ${host.perSecond.toFixed(0)} frames/s (${FRAME_BYTES}-byte frames, ${depth} in flight, ${SMALL} vs ${LARGE})`);
  console.log(`depth ${depth} ${direction} ratio ${(guest.perSecond / host.perSecond).toFixed(3)}`);
  console.log(`depth ${depth} ${direction} cpu per frame: node-vmm ${(guest.cpuMsPerUnit * 1000).toFixed(2)} µs, host ${(host.cpuMsPerUnit * 1000).toFixed(2)} µs`);
  console.log(ticksLine(`depth ${depth} ${direction}`, guest));
}

async function main(): Promise<void> {
  const taps = new BridgedTaps('owned', 'n');
  try {
    await guestTx(taps, 1, 200); // warm-up: JIT
    const hostTxRate = await measureRate(SMALL, LARGE, (count) => hostTx(taps, count));
    const hostRxRate = await measureRate(SMALL, LARGE, (count) => hostRx(taps, count));
    for (const depth of BENCH_DEPTHS) {
      report(depth, 'tx', await measureRate(SMALL, LARGE, (count) => guestTx(taps, depth, count)), hostTxRate, 'guest -> host');
      report(depth, 'rx', await measureRate(SMALL, LARGE, (count) => guestRx(taps, depth, count)), hostRxRate, 'host -> guest, through a bridge');
    }
  } finally {
    await taps.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
