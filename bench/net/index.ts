// bench/net: virtio-net frames per second through the bundled guest's ring-3 driver, each direction
// against the host moving the same frames through the same TAP path itself, in the same run.
//   guest -> host: the guest sends 1514-byte frames; the device writes them to TAP A.
//                  baseline: this process writes the same frames to TAP A.
//   host -> guest: this process writes frames to TAP B; a bridge (in a network namespace) floods
//                  them to TAP A, where the device reads them into the guest's receive buffers.
//                  baseline: this process writes to TAP B and reads them back from TAP A.
// The guest driver keeps one chain in flight per queue, so this is a per-frame round trip figure.
// Prints "tx ratio R" and "rx ratio R" (guest / host frames per second). Needs root and /dev/net/tun.
import { VirtioMmioDevice } from '../../lib/devices/virtio/transport/mmio-device';
import { NET_COUNTERS, VirtioNetBackend } from '../../lib/devices/virtio/net/backend';
import { netDescription } from '../../lib/devices/virtio/net/device';
import { FdFrames } from '../../lib/devices/virtio/net/frames';
import { parseMac } from '../../lib/devices/virtio/net/mac';
import { TapDevice } from '../../lib/net/tap';
import { Cleanup } from '../../test/helpers/cleanup';
import { NetNamespace } from '../../test/helpers/netns';
import { measureRate, timeGuestBench } from '../guest-bench';

const SMALL = Number(process.env.NET_FRAMES_SMALL ?? 5000);
const LARGE = Number(process.env.NET_FRAMES_LARGE ?? 50000);
const FRAME_BYTES = 1514;
/** Frames written ahead of the reader: well inside a TAP's 500-frame queue, so none are dropped. */
const WINDOW = 128;

function frame(): Uint8Array {
  const bytes = new Uint8Array(FRAME_BYTES);
  bytes.fill(0xff, 0, 6);
  bytes.set([0x02, 0, 0, 0, 0, 0x09, 0x88, 0xb5], 6); // source MAC, local experimental ethertype
  return bytes;
}

/** TAP A (the VM's) and TAP B (this process's injector) on one bridge in a namespace of their own. */
class BridgedTaps {
  readonly guestSide: TapDevice;
  readonly hostSide: TapDevice;
  readonly #cleanup = new Cleanup();

  constructor() {
    try {
      this.guestSide = this.#cleanup.add(TapDevice.open(`nvbna${process.pid % 10000}`), (t) => t.close());
      this.hostSide = this.#cleanup.add(TapDevice.open(`nvbnb${process.pid % 10000}`), (t) => t.close());
      const namespace = this.#cleanup.add(new NetNamespace(`node-vmm-bench-net-${process.pid}`), (n) => n.delete());
      namespace.run('ip', 'link', 'add', 'br0', 'type', 'bridge');
      for (const tap of [this.guestSide, this.hostSide]) {
        namespace.adopt(tap.name);
        namespace.run('ip', 'link', 'set', tap.name, 'master', 'br0');
      }
      namespace.run('ip', 'link', 'set', 'br0', 'up');
    } catch (error) {
      void this.#cleanup.run();
      throw error;
    }
  }

  close(): Promise<void> {
    return this.#cleanup.run();
  }
}

/** A virtio-net device over the bench's own TAP (kept open across runs), its back end on this thread. */
function netVirtio(tap: TapDevice, onDevice: (device: VirtioMmioDevice) => void): VirtioMmioDevice[] {
  const device = new VirtioMmioDevice({
    kind: 'virtio-net',
    device: netDescription(parseMac('52:54:00:00:be:01')),
    backend: (context) => new VirtioNetBackend(context, new FdFrames(tap.fd)),
    counters: NET_COUNTERS,
  });
  onDevice(device);
  return [device];
}

/** Throws away the frames waiting on a TAP. */
function drain(tap: TapDevice): void {
  const scratch = [new Uint8Array(2048)];
  while (tap.read(scratch) !== null);
}

async function guestTxMs(taps: BridgedTaps, count: number): Promise<number> {
  return timeGuestBench({ bench: 'net-tx', count, devices: () => netVirtio(taps.guestSide, () => undefined) });
}

function hostTxMs(taps: BridgedTaps, count: number): number {
  const views = [frame()];
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    if (taps.guestSide.write(views) === null) throw new Error('TAP refused a frame');
  }
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  drain(taps.hostSide);
  return elapsed;
}

async function guestRxMs(taps: BridgedTaps, count: number): Promise<number> {
  drain(taps.guestSide);
  const views = [frame()];
  let device: VirtioMmioDevice | undefined;
  let written = 0;
  let feeding = true;
  const feed = (): void => {
    if (!feeding) return;
    const received = device?.counters?.get('rxFrames') ?? 0;
    while (written < count && written - received < WINDOW) {
      if (taps.hostSide.write(views) === null) break;
      written++;
    }
    setImmediate(feed);
  };
  try {
    return await timeGuestBench({
      bench: 'net-rx',
      count,
      devices: () => netVirtio(taps.guestSide, (d) => (device = d)),
      started: feed,
    });
  } finally {
    feeding = false;
  }
}

function hostRxMs(taps: BridgedTaps, count: number): number {
  drain(taps.guestSide);
  const views = [frame()];
  const scratch = [new Uint8Array(2048)];
  let written = 0;
  let received = 0;
  const started = process.hrtime.bigint();
  let lastProgress = Date.now();
  while (received < count) {
    while (written < count && written - received < WINDOW && taps.hostSide.write(views) !== null) written++;
    while (taps.guestSide.read(scratch) !== null) {
      received++;
      lastProgress = Date.now();
    }
    if (Date.now() - lastProgress > 5000) throw new Error(`host rx baseline: ${received} of ${written} frames arrived`);
  }
  return Number(process.hrtime.bigint() - started) / 1e6;
}

async function main(): Promise<void> {
  const taps = new BridgedTaps();
  try {
    await guestTxMs(taps, 200); // warm-up: JIT, page cache
    const guestTx = await measureRate(SMALL, LARGE, (count) => guestTxMs(taps, count));
    const hostTx = await measureRate(SMALL, LARGE, (count) => hostTxMs(taps, count));
    console.log(`tx (guest -> host): guest ${guestTx.toFixed(0)} frames/s, host ${hostTx.toFixed(0)} frames/s (${FRAME_BYTES}-byte frames, ${SMALL} vs ${LARGE})`);
    console.log(`tx ratio ${(guestTx / hostTx).toFixed(3)}`);
    const guestRx = await measureRate(SMALL, LARGE, (count) => guestRxMs(taps, count));
    const hostRx = await measureRate(SMALL, LARGE, (count) => hostRxMs(taps, count));
    console.log(`rx (host -> guest): guest ${guestRx.toFixed(0)} frames/s, host ${hostRx.toFixed(0)} frames/s (through a bridge, ${SMALL} vs ${LARGE})`);
    console.log(`rx ratio ${(guestRx / hostRx).toFixed(3)}`);
  } finally {
    await taps.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
