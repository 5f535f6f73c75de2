// The virtio-rng back end: fills each request's writable buffers from the host's CSPRNG. A guest may
// make one chain as large as its memory, so the work is bounded: at most RNG_BYTES_PER_TURN bytes per
// turn of the event loop (the spec lets the device use less than the whole buffer: 5.4.6.1), then it
// yields and goes on with the next chains.
import { randomFillSync } from 'node:crypto';
import type { DeviceCounters } from '../../counters';
import type { BackendContext, VirtioBackend } from '../transport/backend';
import { deviceBroken, openQueues, signalUsed } from '../transport/backend-support';
import type { SplitVirtqueue } from '../transport/split-virtqueue';

/** Random bytes handed out per turn of the event loop, and the most one chain gets. */
export const RNG_BYTES_PER_TURN = 64 * 1024;

export const RNG_COUNTERS = ['requests', 'bytes'] as const;
type RngCounter = (typeof RNG_COUNTERS)[number];

export interface RngBackendOptions {
  /** Source of randomness (tests may pass their own). */
  fill?: (buffer: Uint8Array) => void;
}

export function createBackend(context: BackendContext, options: RngBackendOptions = {}): VirtioRngBackend {
  return new VirtioRngBackend(context, options);
}

export class VirtioRngBackend implements VirtioBackend {
  readonly #context: BackendContext;
  readonly #fill: (buffer: Uint8Array) => void;
  readonly #counters: DeviceCounters<RngCounter> | undefined;
  #queue: SplitVirtqueue | undefined;
  #running = true;
  #continuation: NodeJS.Immediate | undefined;
  /** Bytes handed to the guest so far. */
  served = 0;
  /** A host-side failure that stopped the device (guest errors only set NEEDS_RESET). */
  error: Error | undefined;

  constructor(context: BackendContext, options: RngBackendOptions = {}) {
    this.#context = context;
    this.#fill = options.fill ?? ((buffer) => randomFillSync(buffer));
    this.#counters = context.counters as DeviceCounters<RngCounter> | undefined;
  }

  /** DRIVER_OK: take the queue the driver set up (a broken setup marks the device NEEDS_RESET). */
  activate(): void {
    this.#queue = openQueues(this.#context, [0])?.[0];
  }

  reset(): void {
    this.#queue = undefined;
    this.#cancel();
  }

  /** The driver notified the queue: serve what is available, a turn's worth at a time. */
  notify(_queue = 0): void {
    if (this.#continuation === undefined) this.#serveTurn();
  }

  pause(): void {
    this.#running = false;
    this.#cancel();
  }

  resume(): void {
    this.#running = true;
  }

  quiesce(): void {
    this.pause();
    this.#queue = undefined;
  }

  #cancel(): void {
    if (this.#continuation !== undefined) clearImmediate(this.#continuation);
    this.#continuation = undefined;
  }

  #serveTurn(): void {
    this.#continuation = undefined;
    const queue = this.#queue;
    if (!this.#running || queue === undefined || queue.failure !== undefined) return;
    let budget = RNG_BYTES_PER_TURN;
    let used = false;
    try {
      while (budget > 0) {
        const chain = queue.pop();
        if (chain === undefined) break;
        let written = 0;
        for (const buffer of chain.writable) {
          if (written >= budget) break;
          const part = buffer.subarray(0, Math.min(buffer.length, budget - written));
          this.#fill(part);
          written += part.length;
        }
        budget -= written;
        this.served += written;
        this.#counters?.add('requests');
        this.#counters?.add('bytes', written);
        queue.pushUsed(chain.head, written);
        used = true;
      }
      if (used) signalUsed(this.#context, queue);
      if (budget <= 0 && queue.pending > 0) this.#continuation = setImmediate(() => this.#serveTurn());
    } catch (error) {
      this.error = deviceBroken(this.#context, error) ?? this.error;
    }
  }
}
