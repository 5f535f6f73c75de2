import { strict as assert } from 'node:assert';
import { ConfigError } from '../../lib/kvm/errors';
import { SharedByteRing } from '../../lib/devices/legacy/serial/shared-ring';

describe('SharedByteRing', () => {
  it('rejects capacities that are not powers of two', () => {
    assert.throws(() => SharedByteRing.allocate(0), ConfigError);
    assert.throws(() => SharedByteRing.allocate(100), ConfigError);
    assert.throws(() => new SharedByteRing(new SharedArrayBuffer(8 + 100)), ConfigError);
  });

  it('pushes and pops in order across the wrap point, reporting size and free', () => {
    const ring = new SharedByteRing(SharedByteRing.allocate(8));
    assert.equal(ring.push(Uint8Array.of(1, 2, 3, 4, 5, 6)), 6);
    assert.deepEqual(Array.from(ring.pop(4)), [1, 2, 3, 4]);
    assert.equal(ring.push(Uint8Array.of(7, 8, 9, 10, 11, 12, 13)), 6, 'only the free bytes are accepted');
    assert.equal(ring.size, 8);
    assert.equal(ring.free, 0);
    assert.equal(ring.pushByte(99), false);
    assert.deepEqual(Array.from(ring.pop()), [5, 6, 7, 8, 9, 10, 11, 12]);
    assert.equal(ring.popByte(), -1);
    assert.equal(ring.pop().length, 0);
  });

  it('pushes and pops single bytes; discard empties it', () => {
    const ring = new SharedByteRing(SharedByteRing.allocate(4));
    for (let i = 0; i < 10; i++) {
      assert.equal(ring.pushByte(i), true);
      assert.equal(ring.popByte(), i);
    }
    ring.push(Uint8Array.of(1, 2, 3));
    ring.discard();
    assert.equal(ring.size, 0);
    assert.equal(ring.free, 4);
  });

  it('keeps exact sizes when the 32-bit counters wrap', () => {
    const buffer = SharedByteRing.allocate(16);
    const indices = new Int32Array(buffer, 0, 2);
    indices[0] = 0x7ffffffe;
    indices[1] = 0x7ffffffe;
    const ring = new SharedByteRing(buffer);
    assert.equal(ring.push(Uint8Array.of(1, 2, 3, 4)), 4);
    assert.equal(ring.size, 4);
    assert.ok((indices[0] as number) < 0, 'head wrapped');
    assert.deepEqual(Array.from(ring.pop()), [1, 2, 3, 4]);
    assert.equal(ring.size, 0);
  });

  it('two views of one buffer see the same bytes', () => {
    const buffer = SharedByteRing.allocate(32);
    const producer = new SharedByteRing(buffer);
    const consumer = new SharedByteRing(buffer);
    producer.push(new TextEncoder().encode('shared'));
    assert.equal(new TextDecoder().decode(consumer.pop()), 'shared');
    assert.equal(producer.size, 0);
  });
});
