// virtio-rng (virtio 1.2, 5.4): one request queue; each chain's writable buffers are filled from the
// host's CSPRNG and returned. Runs on the back end's thread (the main thread): `notify()` is called
// when the queue's ioeventfd fires (or the transport's onNotify hook in the fallback path) and
// `signal` injects the interrupt (irqfd).
import { randomFillSync } from 'node:crypto';
import { deviceBroken, openQueues, signalUsed } from '../transport/backend-support';
import type { BackendContext, VirtioBackend } from '../transport/mmio-device';
import { VirtioDeviceId, VirtioFeature } from '../transport/mmio-registers';
import type { VirtioDeviceDescription } from '../transport/mmio-state';
import type { SplitVirtqueue } from '../transport/split-virtqueue';

export const RNG_QUEUE_SIZE = 256;

export function rngDevice(): VirtioDeviceDescription {
  return { deviceId: VirtioDeviceId.ENTROPY, features: (1n << VirtioFeature.INDIRECT_DESC) | (1n << VirtioFeature.EVENT_IDX), queueSizes: [RNG_QUEUE_SIZE] };
}

export interface RngBackendOptions extends BackendContext {
  /** Source of randomness (tests may pass their own). */
  fill?: (buffer: Uint8Array) => void;
}

export class VirtioRngBackend implements VirtioBackend {
  readonly #options: RngBackendOptions;
  readonly #fill: (buffer: Uint8Array) => void;
  #queue: SplitVirtqueue | undefined;
  /** Bytes handed to the guest so far. */
  served = 0;
  /** A host-side failure that stopped the device (guest errors only set NEEDS_RESET). */
  error: Error | undefined;

  constructor(options: RngBackendOptions) {
    this.#options = options;
    this.#fill = options.fill ?? ((buffer) => randomFillSync(buffer));
  }

  /** DRIVER_OK: take the queue the driver set up (a broken setup marks the device NEEDS_RESET). */
  activate(): void {
    this.#queue = openQueues(this.#options, [0])?.[0];
  }

  reset(): void {
    this.#queue = undefined;
  }

  /** The driver notified the queue: serve every available request. */
  notify(_queue = 0): void {
    const queue = this.#queue;
    if (queue === undefined || queue.failure !== undefined) return;
    try {
      for (let chain = queue.pop(); chain !== undefined; chain = queue.pop()) {
        for (const buffer of chain.writable) this.#fill(buffer);
        this.served += chain.writableBytes;
        queue.pushUsed(chain.head, chain.writableBytes);
      }
    } catch (error) {
      this.error = deviceBroken(this.#options, error) ?? this.error;
      return;
    }
    signalUsed(this.#options, queue);
  }
}
