// The queue-facing operations of guest memory as a plain object of bound functions, so that a test
// can replace one of them (a lying `contains`, a `writeU16` that refills the queue) and keep the rest.
import type { QueueMemory } from '../../lib/devices/virtio/transport/split-virtqueue';
import type { GuestMemory } from '../../lib/memory/guest-memory';

export function queueMemoryOps(memory: GuestMemory): QueueMemory {
  return {
    contains: (address, length) => memory.contains(address, length),
    slice: (address, length) => memory.slice(address, length),
    writableSlice: (address, length) => memory.writableSlice(address, length),
    readU16: (address) => memory.readU16(address),
    readU32: (address) => memory.readU32(address),
    readU64: (address) => memory.readU64(address),
    writeU16: (address, value) => memory.writeU16(address, value),
    writeU32: (address, value) => memory.writeU32(address, value),
  };
}
