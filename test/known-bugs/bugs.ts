// Bugs the unit tests once let through (issue 8), each as a text substitution against today's
// source. `npm run test:known-bugs` puts each back in a scratch copy and requires the tests to fail.
export interface KnownBug {
  name: string;
  file: string;
  from: string;
  to: string;
  /** Compiled test files (under dist/test/unit) expected to catch it. */
  tests: string[];
}

const QUEUE_TESTS = ['virtqueue-conformance', 'virtqueue-fuzz', 'virtqueue', 'virtio-devices-fuzz'];
const SPLIT_VIRTQUEUE = 'lib/devices/virtio/transport/split-virtqueue.ts';

export const KNOWN_BUGS: KnownBug[] = [
  {
    name: 'used-ring idx written before its entry',
    file: SPLIT_VIRTQUEUE,
    from: `    this.#memory.writeU32(entry, head);
    this.#memory.writeU32(entry + 4, written);
    indices.nextUsed = (indices.nextUsed + 1) & U16_MASK;
    // The index goes last: the driver may read the entries as soon as it sees it.
    this.#memory.writeU16(used + Used.IDX, indices.nextUsed);`,
    to: `    indices.nextUsed = (indices.nextUsed + 1) & U16_MASK;
    this.#memory.writeU16(used + Used.IDX, indices.nextUsed);
    this.#memory.writeU32(entry, head);
    this.#memory.writeU32(entry + 4, written);`,
    tests: QUEUE_TESTS,
  },
  {
    name: 'no avail_event write with EVENT_IDX',
    file: SPLIT_VIRTQUEUE,
    from: 'if (this.#config.eventIdx) this.#memory.writeU16(',
    to: 'if (this.#config.eventIdx && this.size === 0) this.#memory.writeU16(',
    tests: QUEUE_TESTS,
  },
  {
    name: 'EVENT_IDX signalling one early',
    file: SPLIT_VIRTQUEUE,
    from: '((current - usedEvent - 1) & U16_MASK)',
    to: '((current - usedEvent - 2) & U16_MASK)',
    tests: QUEUE_TESTS,
  },
  {
    name: 'no 16-bit wrap of the avail index',
    file: SPLIT_VIRTQUEUE,
    from: 'indices.nextAvail = (indices.nextAvail + 1) & U16_MASK;',
    to: 'indices.nextAvail = indices.nextAvail + 1;',
    tests: QUEUE_TESTS,
  },
  {
    name: 'nested indirect tables allowed',
    file: SPLIT_VIRTQUEUE,
    from: "if (inIndirect) throw new VirtqueueError('NESTED_INDIRECT'",
    to: "if (inIndirect && this.size === 0) throw new VirtqueueError('NESTED_INDIRECT'",
    tests: QUEUE_TESTS,
  },
  {
    name: 'buffer bounds check covering one byte',
    file: SPLIT_VIRTQUEUE,
    from: '!memory.contains(Number(address), length)',
    to: '!memory.contains(Number(address), 1)',
    tests: QUEUE_TESTS,
  },
  {
    name: 'DeviceFeaturesSel > 1 returning the high word',
    file: 'lib/devices/virtio/transport/mmio-transport.ts',
    from: ': sel === 1 ? (s[TransportSlot.DEVICE_FEATURES_HIGH] as number) >>> 0 : 0',
    to: ': sel >= 1 ? (s[TransportSlot.DEVICE_FEATURES_HIGH] as number) >>> 0 : 0',
    tests: ['virtio-mmio-conformance', 'virtio-rng'],
  },
  {
    name: "i8042's command bit never cleared",
    file: 'lib/devices/legacy/i8042/i8042.ts',
    from: `    Atomics.and(this.#words, Slot.STATUS, ~STATUS_COMMAND);
`,
    to: '',
    tests: ['legacy-devices'],
  },
  {
    name: 'virtio-blk accepting a write one sector past the end',
    file: 'lib/devices/virtio/blk/backend.ts',
    from: '> this.#file.sectors) throw',
    to: '> this.#file.sectors + 1n) throw',
    tests: ['virtio-blk', 'virtio-devices-fuzz'],
  },
];
