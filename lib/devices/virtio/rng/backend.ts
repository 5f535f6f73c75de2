// The virtio-rng back end: fills each request's writable buffers from the host's CSPRNG. A guest may
// make one chain as large as its memory, so the work is bounded: at most RNG_BYTES_PER_TURN bytes per
// turn of the event loop (the spec lets the device use less than the whole buffer: 5.4.6.1), then it
// yields and goes on with the next chains.
import { randomFillSync } from 'node:crypto';
import type { DeviceCounters } from '../../counters';
import type { BackendContext } from '../transport/backend';
import { QueueTurnBackend } from '../transport/queue-turns';
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

export class VirtioRngBackend extends QueueTurnBackend {
  readonly #fill: (buffer: Uint8Array) => void;
  readonly #counters: DeviceCounters<RngCounter> | undefined;
  /** Bytes handed to the guest so far. */
  served = 0;

  constructor(context: BackendContext, options: RngBackendOptions = {}) {
    super(context);
    this.#fill = options.fill ?? ((buffer) => randomFillSync(buffer));
    this.#counters = context.counters as DeviceCounters<RngCounter> | undefined;
  }

  /** Up to RNG_BYTES_PER_TURN bytes, the most one chain gets too. */
  protected serveTurn(queue: SplitVirtqueue): { served: number; budgetSpent: boolean } {
    let budget = RNG_BYTES_PER_TURN;
    let served = 0;
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
      served++;
    }
    return { served, budgetSpent: budget <= 0 };
  }
}
