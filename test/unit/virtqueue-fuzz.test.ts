// Feeds the split-virtqueue handler thousands of random and hostile descriptor chains. Checked: only
// VirtqueueError escapes; every memory access the queue makes lies inside guest RAM (it validates
// before it touches); every chain it returns is inside RAM and no longer than its table; and the
// queue ends either drained or failed with a code.
import { strict as assert } from 'node:assert';
import { VirtqueueError } from '../../lib/devices/virtio/transport/errors';
import { DescFlag } from '../../lib/devices/virtio/transport/split-ring-layout';
import { QueueMemory, SplitVirtqueue } from '../../lib/devices/virtio/transport/split-virtqueue';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { Prng } from '../helpers/prng';
import { TestDriver } from '../helpers/virtqueue-driver';

const RAM = 1024 * 1024;
const RINGS = 0x1000;
const DATA = 0x40000;
const CHAINS = 12_000;
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);

/** GuestMemory that fails the test if the queue ever reaches for an address outside RAM. */
function strictMemory(memory: GuestMemory): QueueMemory {
  const check = (address: number | bigint, length: number): void => {
    assert.ok(memory.contains(address, length), `queue accessed [0x${address.toString(16)}, +${length}) outside guest RAM`);
  };
  return {
    contains: (address, length) => memory.contains(address, length),
    slice: (address, length) => (check(address, length), memory.slice(address, length)),
    writableSlice: (address, length) => (check(address, length), memory.writableSlice(address, length)),
    readU16: (address) => (check(address, 2), memory.readU16(address)),
    readU32: (address) => (check(address, 4), memory.readU32(address)),
    readU64: (address) => (check(address, 8), memory.readU64(address)),
    writeU16: (address, value) => (check(address, 2), memory.writeU16(address, value)),
    writeU32: (address, value) => (check(address, 4), memory.writeU32(address, value)),
  };
}

function randomAddress(rng: Prng): bigint {
  switch (rng.below(6)) {
    case 0: return BigInt(DATA + rng.below(RAM - DATA));
    case 1: return BigInt(RAM - rng.below(64));
    case 2: return BigInt(rng.u32()) * 0x1_0000_0000n + BigInt(rng.u32());
    case 3: return 0xffff_ffff_ffff_ff00n + BigInt(rng.below(256));
    case 4: return BigInt(RINGS + rng.below(0x2000));
    default: return BigInt(DATA + rng.below(0x1000) * 16);
  }
}

function randomLength(rng: Prng): number {
  return rng.pick([0, 1, 16, 64, 4096, rng.below(0x10000), 0xffffffff, 0x80000000 + rng.below(0x1000), rng.below(RAM)]);
}

function randomFlags(rng: Prng): number {
  if (rng.chance(0.6)) return rng.pick([0, DescFlag.NEXT, DescFlag.WRITE, DescFlag.NEXT | DescFlag.WRITE]);
  return rng.below(0x10000);
}

describe('split virtqueue fuzz', () => {
  it(`survives ${CHAINS} random and hostile chains (seed 0x${SEED.toString(16)})`, () => {
    const memory = GuestMemory.allocate(ramLayout(RAM));
    const rng = new Prng(SEED);
    const failures = new Map<string, number>();
    let popped = 0;
    let examined = 0;
    try {
      while (examined < CHAINS) {
        const size = 1 << rng.below(9);
        const driver = new TestDriver(memory, RINGS, size, { indirect: rng.chance(0.5), eventIdx: rng.chance(0.5) });
        const queue = new SplitVirtqueue(strictMemory(memory), driver.config);
        // Indirect tables and plain descriptors share the data area, so some chains walk into tables.
        for (let i = 0; i < 64; i++) driver.writeDescriptor(i, { address: randomAddress(rng), length: randomLength(rng), flags: randomFlags(rng), next: rng.below(size * 2) }, DATA + 0x1000 * rng.below(4));
        const hostile = rng.chance(0.3);
        for (let i = 0; i < size; i++) {
          if (hostile) driver.writeDescriptor(i, { address: randomAddress(rng), length: randomLength(rng), flags: randomFlags(rng), next: rng.chance(0.8) ? rng.below(size) : rng.below(0x10000) });
          else driver.writeDescriptor(i, { address: DATA + rng.below(0x1000) * 64, length: rng.below(4096), flags: rng.chance(0.5) ? DescFlag.WRITE : 0, next: 0 });
        }
        const offered = rng.chance(0.1) ? size + 1 + rng.below(0x8000) : 1 + rng.below(size);
        for (let i = 0; i < Math.min(offered, size); i++) driver.makeAvailable(rng.chance(0.9) ? rng.below(size) : rng.below(0x10000));
        if (offered > size) driver.setAvailIndex(offered);
        for (let attempt = 0; attempt <= size + 1; attempt++) {
          let chain;
          try {
            chain = queue.pop();
          } catch (error) {
            assert.ok(error instanceof VirtqueueError, `only VirtqueueError may escape, got ${String(error)}`);
            failures.set(error.code, (failures.get(error.code) ?? 0) + 1);
            examined++;
            break;
          }
          if (chain === undefined) break;
          popped++;
          examined++;
          const buffers = [...chain.readable, ...chain.writable];
          assert.ok(buffers.length <= 2 * size + 0x8000, 'chain length bounded by its tables');
          for (const buffer of buffers) {
            const region = memory.regions.find((r) => r.bytes.buffer === buffer.buffer);
            assert.ok(buffer.length === 0 || (region !== undefined && buffer.byteOffset + buffer.length <= region.bytes.byteOffset + region.size), 'buffer inside guest RAM');
          }
          queue.pushUsed(chain.head, Math.min(chain.writableBytes, 0xffff));
        }
        assert.ok(queue.failure === undefined || queue.failure instanceof VirtqueueError, 'defined end state');
      }
    } finally {
      memory.dispose();
    }
    console.log(`      ${examined} chains examined, ${popped} accepted; failures by code: ${JSON.stringify(Object.fromEntries(failures))}`);
    assert.ok(popped > 0 && failures.size >= 5, 'the fuzzer reached both accepted chains and several failure kinds');
  });
});
