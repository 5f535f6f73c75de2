// Feeds the split-virtqueue handler thousands of random and hostile descriptor chains. Checked: only
// VirtqueueError escapes; every memory access the queue makes lies inside guest RAM (it validates
// before it touches) and every used entry is published before its index (StrictMemory records both
// outside the queue's reach); the used ring read back returns each popped head once, with the length
// pushed; every chain it returns is inside RAM and no longer than its table; and the queue ends
// either drained or failed with a code.
import { strict as assert } from 'node:assert';
import { VirtqueueError } from '../../lib/devices/virtio/transport/errors';
import { DescFlag } from '../../lib/devices/virtio/transport/split-ring-layout';
import { SplitVirtqueue } from '../../lib/devices/virtio/transport/split-virtqueue';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { fuzzIterations, fuzzSeed, reportChains } from '../helpers/fuzz-config';
import { Prng } from '../helpers/prng';
import { StrictMemory } from '../helpers/strict-memory';
import { UsedRingOracle } from '../helpers/used-ring-oracle';
import { TestDriver } from '../helpers/virtqueue-driver';

const RAM = 1024 * 1024;
const RINGS = 0x1000;
const DATA = 0x40000;
const CHAINS = fuzzIterations(12_000);
const SEED = fuzzSeed(0x5eed);

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
    const strict = new StrictMemory(memory);
    const failures = new Map<string, number>();
    let popped = 0;
    let examined = 0;
    try {
      while (examined < CHAINS) {
        const size = 1 << rng.below(9);
        const driver = new TestDriver(memory, RINGS, size, { indirect: rng.chance(0.5), eventIdx: rng.chance(0.5) });
        driver.clearRings();
        strict.watchUsedRing(driver.config.usedRing, size);
        const oracle = new UsedRingOracle(driver);
        const queue = new SplitVirtqueue(strict.memory, driver.config);
        // Indirect tables and plain descriptors share the data area, so some chains walk into tables.
        for (let i = 0; i < 64; i++) driver.writeDescriptor(i, { address: randomAddress(rng), length: randomLength(rng), flags: randomFlags(rng), next: rng.below(size * 2) }, DATA + 0x1000 * rng.below(4));
        const hostile = rng.chance(0.3);
        for (let i = 0; i < size; i++) {
          if (hostile) driver.writeDescriptor(i, { address: randomAddress(rng), length: randomLength(rng), flags: randomFlags(rng), next: rng.chance(0.8) ? rng.below(size) : rng.below(0x10000) });
          else driver.writeDescriptor(i, { address: DATA + rng.below(0x1000) * 64, length: rng.below(4096), flags: rng.chance(0.5) ? DescFlag.WRITE : 0, next: 0 });
        }
        const offered = rng.chance(0.1) ? size + 1 + rng.below(0x8000) : 1 + rng.below(size);
        for (let i = 0; i < Math.min(offered, size); i++) {
          const head = rng.chance(0.9) ? rng.below(size) : rng.below(0x10000);
          driver.makeAvailable(head);
          oracle.offered(head);
        }
        if (offered > size) driver.setAvailIndex(offered);
        let taken = 0;
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
          taken++;
          const written = rng.below(Math.min(chain.writableBytes, 0xffff) + 1);
          oracle.expectLength(chain.head, written);
          queue.pushUsed(chain.head, written);
        }
        oracle.assertNoneLost(taken);
        oracle.assertClean(`seed 0x${SEED.toString(16)}, chain ${examined}`);
        strict.assertClean(`seed 0x${SEED.toString(16)}, chain ${examined}`);
        assert.ok(queue.failure === undefined || queue.failure instanceof VirtqueueError, 'defined end state');
      }
    } finally {
      memory.dispose();
    }
    reportChains(examined);
    console.log(`      ${examined} chains examined, ${popped} accepted; failures by code: ${JSON.stringify(Object.fromEntries(failures))}`);
    assert.ok(popped > 0 && failures.size >= 5, 'the fuzzer reached both accepted chains and several failure kinds');
  });
});
