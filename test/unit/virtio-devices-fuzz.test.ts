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
import { MmioDriver } from '../helpers/mmio-driver';
import { Prng } from '../helpers/prng';
import { TestDriver } from '../helpers/virtqueue-driver';

const RAM = 1024 * 1024;
const RINGS = 0x10000;
const RING_STRIDE = 0x4000;
const DATA = 0x40000;
const CHAINS = 10_000;

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
}

function fuzz(target: FuzzTarget, seed: number): { chains: number; resets: number } {
  const rng = new Prng(seed);
  const memory = GuestMemory.allocate(ramLayout(RAM));
  let chains = 0;
  let resets = 0;
  try {
    while (chains < CHAINS) {
      const transport = new VirtioMmioTransport(createVirtioMmioState(target.device));
      const backend = target.backend({ transport, memory, signal: () => {} });
      try {
        const driver = new MmioDriver(transport);
        driver.negotiate((1n << VirtioFeature.VERSION_1) | (1n << VirtioFeature.INDIRECT_DESC));
        const queues = target.queues.map((q) => new TestDriver(memory, RINGS + q * RING_STRIDE, 1 << rng.below(6), { indirect: true }));
        queues.forEach((queue, q) => driver.setupQueue(target.queues[q] as number, queue.config));
        driver.driverOk();
        backend.activate();
        for (const [q, queue] of queues.entries()) {
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
          const offered = 1 + rng.below(size);
          for (let i = 0; i < offered; i++) queue.makeAvailable(rng.chance(0.95) ? rng.below(size) : rng.below(0x10000));
          chains += offered;
          backend.notify(target.queues[q] as number);
        }
        if (transport.status & DeviceStatus.DEVICE_NEEDS_RESET) resets++;
        assert.equal((backend as { error?: Error }).error, undefined, 'no host-side failure');
      } finally {
        backend.reset();
        void backend.quiesce?.();
      }
    }
  } finally {
    memory.dispose();
  }
  return { chains, resets };
}

describe('hostile chains against every virtio device', () => {
  it(`virtio-net: ${CHAINS} chains on its receive and transmit queues`, () => {
    const rng = new Prng(0x4e37);
    const { chains, resets } = fuzz(
      { name: 'net', device: netDevice(parseMac('52:54:00:00:00:01')), queues: [RX_QUEUE, TX_QUEUE], backend: (context) => new VirtioNetBackend(context, new FuzzFrames(rng)) },
      0x4e37,
    );
    console.log(`      ${chains} chains, ${resets} devices ended NEEDS_RESET`);
    assert.ok(chains >= CHAINS && resets > 0);
  });

  it(`virtio-vsock: ${CHAINS} chains with random packets on its receive and transmit queues`, function () {
    this.timeout(60_000);
    const dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'vsock-fuzz-'));
    try {
      let n = 0;
      const { chains, resets } = fuzz(
        { name: 'vsock', device: vsockDevice(3n), queues: [VSOCK_RX_QUEUE, VSOCK_TX_QUEUE], backend: (context) => new VirtioVsockBackend(context, { guestCid: 3n, socketPath: path.join(dir, `s${n++}`) }) },
        0x750c,
      );
      console.log(`      ${chains} chains, ${resets} devices ended NEEDS_RESET`);
      assert.ok(chains >= CHAINS && resets > 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
