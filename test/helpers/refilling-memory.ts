// Guest memory seen through a driver on another vCPU that refills the queue as fast as it can: each
// time the device publishes a used index, the driver makes head 0 available again, until `total`
// chains have been offered in all. Tests of a back end's per-turn bound use it: however fast the
// queue refills, one turn serves no more than its budget.
import type { GuestMemory } from '../../lib/memory/guest-memory';
import { Used } from '../../lib/devices/virtio/transport/split-ring-layout';
import type { QueueMemory } from '../../lib/devices/virtio/transport/split-virtqueue';
import { queueMemoryOps } from './queue-memory';
import type { TestDriver } from './virtqueue-driver';

export interface RefillingMemory {
  memory: QueueMemory;
  /** The queue to refill (set once the rig that uses this memory has made it). */
  queue: TestDriver | undefined;
  /** Chains offered so far: the test counts its first one itself. */
  offered: number;
}

export function refillingMemory(memory: GuestMemory, total: number): RefillingMemory {
  const refill: RefillingMemory = {
    queue: undefined,
    offered: 0,
    memory: {
      ...queueMemoryOps(memory),
      writeU16: (a, v) => {
        memory.writeU16(a, v);
        const queue = refill.queue;
        if (queue !== undefined && a === queue.config.usedRing + Used.IDX && refill.offered < total) {
          queue.makeAvailable(0);
          refill.offered++;
        }
      },
    },
  };
  return refill;
}
