import { strict as assert } from 'node:assert';
import { ClosedError, ConfigError, GuestMemoryError } from '../../lib/kvm/errors';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { GiB, MiB, MMIO_GAP_END, MMIO_GAP_START, ramLayout } from '../../lib/memory/layout';

describe('ramLayout', () => {
  it('puts small guests entirely below the MMIO gap', () => {
    assert.deepEqual(ramLayout(256 * MiB), [{ guestAddress: 0, size: 256 * MiB }]);
  });

  it('moves RAM beyond 3 GiB above 4 GiB and splits it into regions of at most 4 GiB', () => {
    const layout = ramLayout(12 * GiB);
    assert.deepEqual(layout, [
      { guestAddress: 0, size: MMIO_GAP_START },
      { guestAddress: MMIO_GAP_END, size: 4 * GiB },
      { guestAddress: MMIO_GAP_END + 4 * GiB, size: 4 * GiB },
      { guestAddress: MMIO_GAP_END + 8 * GiB, size: 1 * GiB },
    ]);
    assert.equal(layout.reduce((sum, r) => sum + r.size, 0), 12 * GiB);
  });

  it('rejects sizes that are not page multiples or out of range', () => {
    assert.throws(() => ramLayout(4097), ConfigError);
    assert.throws(() => ramLayout(0), ConfigError);
    assert.throws(() => ramLayout(2 ** 60), ConfigError);
  });
});

describe('GuestMemory', () => {
  let memory: GuestMemory;
  beforeEach(() => {
    memory = GuestMemory.allocate([
      { guestAddress: 0, size: 64 * 1024 },
      { guestAddress: 0x100000, size: 64 * 1024 },
    ]);
  });
  afterEach(() => memory.dispose());

  it('reads and writes little-endian values of every width', () => {
    memory.writeU8(0x10, 0xfe);
    memory.writeU16(0x20, 0xbeef);
    memory.writeU32(0x30, 0xdeadbeef);
    memory.writeU64(0x100008, 0x0123456789abcdefn);
    assert.equal(memory.readU8(0x10), 0xfe);
    assert.equal(memory.readU16(0x20), 0xbeef);
    assert.equal(memory.readU32(0x30), 0xdeadbeef);
    assert.equal(memory.readU64(0x100008n), 0x0123456789abcdefn);
    assert.deepEqual(Array.from(memory.readBytes(0x100008, 2)), [0xef, 0xcd]);
  });

  it('translates to host addresses inside the right region', () => {
    const [low, high] = memory.regions;
    assert.equal(memory.hostAddress(0x1234), (low?.hostAddress ?? 0n) + 0x1234n);
    assert.equal(memory.hostAddress(0x100010), (high?.hostAddress ?? 0n) + 0x10n);
  });

  it('throws GuestMemoryError for addresses outside RAM, across region ends and for huge values', () => {
    assert.throws(() => memory.readU8(0x10000), GuestMemoryError);
    assert.throws(() => memory.readU32(0xfffe), GuestMemoryError);
    assert.throws(() => memory.slice(0x100000, 64 * 1024 + 1), GuestMemoryError);
    assert.throws(() => memory.writeU64(0xffffffffffffffffn, 1n), GuestMemoryError);
    assert.throws(() => memory.readU8(-1), GuestMemoryError);
    assert.throws(() => memory.readU8(1.5), GuestMemoryError);
    assert.throws(() => memory.readU8(Number.NaN), GuestMemoryError);
    assert.equal(memory.contains(0x8000, 16), true);
    assert.equal(memory.contains(0x80000, 16), false);
  });

  it('round-trips C strings and refuses unterminated ones', () => {
    const written = memory.writeCString(0x200, 'console=ttyS0 ✓');
    assert.equal(memory.readCString(0x200, 64), 'console=ttyS0 ✓');
    assert.equal(written, Buffer.byteLength('console=ttyS0 ✓') + 1);
    memory.slice(0x400, 8).fill(0x41);
    assert.throws(() => memory.readCString(0x400, 8), GuestMemoryError);
  });

  it('gives views that see writes made through the other API (no copies)', () => {
    const view = memory.slice(0x100, 4);
    memory.writeU32(0x100, 0x04030201);
    assert.deepEqual(Array.from(view), [1, 2, 3, 4]);
  });

  it('shares memory with attach() views of the same host pages', () => {
    const other = GuestMemory.attach(memory.descriptors());
    other.writeU32(0x100004, 0xcafef00d);
    assert.equal(memory.readU32(0x100004), 0xcafef00d);
  });

  it('empties its views and refuses access once disposed', () => {
    const view = memory.slice(0, 16);
    memory.dispose();
    assert.equal(view.length, 0);
    assert.throws(() => memory.readU8(0), ClosedError);
    memory.dispose();
  });

  it('rejects unaligned or overlapping region layouts', () => {
    assert.throws(() => GuestMemory.allocate([{ guestAddress: 0x10, size: 4096 }]), ConfigError);
    assert.throws(() => GuestMemory.allocate([{ guestAddress: 0, size: 8192 }, { guestAddress: 4096, size: 4096 }]), ConfigError);
  });
});
