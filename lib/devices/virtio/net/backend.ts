// virtio-net (virtio 1.2, 5.1) backed by a TAP interface: receiveq1 (0) and transmitq1 (1), a MAC
// address in config space, no offloads. Frames move between the TAP and the descriptor views with
// readv/writev (no copies). Back-pressure instead of drops: when the guest has no receive buffers the
// TAP is not read at all, so frames wait in the TAP's own queue (the kernel drops only when that
// overflows) until the guest posts buffers and notifies the receive queue.
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../../../kvm/errors';
import { take } from '../transport/views';
import { deviceBroken, openQueues, signalUsed } from '../transport/backend-support';
import type { BackendContext, VirtioBackend } from '../transport/mmio-device';
import { VirtioDeviceId, VirtioFeature } from '../transport/mmio-registers';
import type { VirtioDeviceDescription } from '../transport/mmio-state';
import type { DescriptorChain, SplitVirtqueue } from '../transport/split-virtqueue';

export const NET_QUEUE_SIZE = 256;
export const RX_QUEUE = 0;
export const TX_QUEUE = 1;
/** struct virtio_net_hdr with num_buffers (always present with VERSION_1). */
export const NET_HEADER_SIZE = 12;
const NUM_BUFFERS_OFFSET = 10;
const MAC_BYTES = 6;
export const NetFeature = { MAC: 5n } as const;

/** A locally administered unicast MAC (random unless given as "52:54:00:12:34:56"). */
export function parseMac(mac?: string): Uint8Array {
  if (mac === undefined) {
    const bytes = randomBytes(MAC_BYTES);
    bytes[0] = ((bytes[0] as number) & 0xfe) | 0x02;
    return bytes;
  }
  const parts = mac.split(':');
  if (parts.length !== MAC_BYTES || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new ConfigError(`MAC address must look like 52:54:00:12:34:56, not '${mac}'`);
  const bytes = Uint8Array.from(parts.map((p) => parseInt(p, 16)));
  if (((bytes[0] as number) & 1) !== 0) throw new ConfigError(`MAC address ${mac} is a multicast address`);
  return bytes;
}

export function netDevice(mac: Uint8Array): VirtioDeviceDescription {
  return {
    deviceId: VirtioDeviceId.NET,
    features: (1n << NetFeature.MAC) | (1n << VirtioFeature.INDIRECT_DESC),
    queueSizes: [NET_QUEUE_SIZE, NET_QUEUE_SIZE],
    config: mac,
  };
}

/** Where frames come from and go to: a TapDevice, or anything with the same shape (tests). */
export interface FrameDevice {
  read(into: Uint8Array[]): number | null;
  write(from: Uint8Array[]): number | null;
  watch(onReadable: () => void): void;
  unwatch(): void;
  readonly watching: boolean;
}

export class VirtioNetBackend implements VirtioBackend {
  readonly #context: BackendContext;
  readonly #tap: FrameDevice;
  #rx: SplitVirtqueue | undefined;
  #tx: SplitVirtqueue | undefined;
  /** A receive chain taken from the ring while no frame was waiting. */
  #pendingRx: DescriptorChain | undefined;
  readonly stats = { received: 0, transmitted: 0, txDropped: 0, rxTruncated: 0, waitsForBuffers: 0 };
  /** A host-side failure that stopped the device (guest errors only set NEEDS_RESET). */
  error: Error | undefined;

  constructor(context: BackendContext, tap: FrameDevice) {
    this.#context = context;
    this.#tap = tap;
  }

  activate(): void {
    const queues = openQueues(this.#context, [RX_QUEUE, TX_QUEUE]);
    if (queues === undefined) return;
    [this.#rx, this.#tx] = queues;
    this.#tap.watch(() => this.#receive());
  }

  reset(): void {
    this.#tap.unwatch();
    this.#rx = undefined;
    this.#tx = undefined;
    this.#pendingRx = undefined;
  }

  notify(queue: number): void {
    if (queue === TX_QUEUE) this.#transmit();
    else if (queue === RX_QUEUE && this.#rx !== undefined && !this.#tap.watching) {
      this.#tap.watch(() => this.#receive());
      this.#receive();
    }
  }

  #receive(): void {
    const rx = this.#rx;
    if (rx === undefined || rx.failure !== undefined) return;
    let used = false;
    try {
      for (;;) {
        const chain = this.#pendingRx ?? rx.pop();
        this.#pendingRx = undefined;
        if (chain === undefined) {
          // No buffers: stop reading so frames wait in the TAP's queue, not dropped here.
          this.#tap.unwatch();
          this.stats.waitsForBuffers++;
          break;
        }
        if (chain.writableBytes <= NET_HEADER_SIZE) {
          rx.pushUsed(chain.head, 0);
          used = true;
          continue;
        }
        const frameViews = take(chain.writable, NET_HEADER_SIZE, chain.writableBytes - NET_HEADER_SIZE);
        const length = this.#tap.read(frameViews);
        if (length === null) {
          this.#pendingRx = chain;
          break;
        }
        writeHeader(take(chain.writable, 0, NET_HEADER_SIZE));
        if (length > chain.writableBytes - NET_HEADER_SIZE) this.stats.rxTruncated++;
        rx.pushUsed(chain.head, NET_HEADER_SIZE + Math.min(length, chain.writableBytes - NET_HEADER_SIZE));
        this.stats.received++;
        used = true;
      }
    } catch (error) {
      this.#broken(error);
      return;
    }
    if (used) signalUsed(this.#context, rx);
  }

  #transmit(): void {
    const tx = this.#tx;
    if (tx === undefined || tx.failure !== undefined) return;
    try {
      for (let chain = tx.pop(); chain !== undefined; chain = tx.pop()) {
        if (chain.readableBytes > NET_HEADER_SIZE) {
          const written = this.#tap.write(take(chain.readable, NET_HEADER_SIZE, chain.readableBytes - NET_HEADER_SIZE));
          if (written === null) this.stats.txDropped++;
          else this.stats.transmitted++;
        }
        tx.pushUsed(chain.head, 0);
      }
    } catch (error) {
      this.#broken(error);
      return;
    }
    signalUsed(this.#context, tx);
  }

  #broken(error: unknown): void {
    this.#tap.unwatch();
    this.error = deviceBroken(this.#context, error) ?? this.error;
  }
}

/** A zeroed virtio_net_hdr with num_buffers = 1, written across however many views it spans. */
function writeHeader(views: Uint8Array[]): void {
  let offset = 0;
  for (const view of views) {
    for (let i = 0; i < view.length; i++, offset++) view[i] = offset === NUM_BUFFERS_OFFSET ? 1 : 0;
  }
}
