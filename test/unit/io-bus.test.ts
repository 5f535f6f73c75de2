import { strict as assert } from 'node:assert';
import { BusDevice, IoBus } from '../../lib/bus/io-bus';
import { BusError } from '../../lib/kvm/errors';

function recordingDevice(log: string[], fill = 0xab): BusDevice {
  return {
    read: (offset, data) => {
      data.fill(fill);
      log.push(`r${offset}:${data.length}`);
    },
    write: (offset, data) => log.push(`w${offset}:${Array.from(data).join(',')}`),
  };
}

describe('IoBus', () => {
  it('routes reads and writes to the owning device with the offset inside its range', () => {
    const bus = new IoBus('pio');
    const log: string[] = [];
    bus.register(0x3f8, 8, recordingDevice(log), 'uart');
    const data = new Uint8Array(2);
    assert.equal(bus.read(0x3fa, data), true);
    assert.deepEqual(Array.from(data), [0xab, 0xab]);
    assert.equal(bus.write(0x3f8, Uint8Array.of(7)), true);
    assert.deepEqual(log, ['r2:2', 'w0:7']);
  });

  it('rejects overlapping ranges, naming both devices', () => {
    const bus = new IoBus('mmio');
    bus.register(0xd0000000, 0x1000, recordingDevice([]), 'virtio-blk');
    assert.throws(() => bus.register(0xd0000800, 0x1000, recordingDevice([]), 'virtio-net'), (error: unknown) => {
      assert.ok(error instanceof BusError);
      assert.match(error.message, /virtio-net.*overlaps virtio-blk/);
      return true;
    });
    assert.throws(() => bus.register(0xcffff000, 0x1001, recordingDevice([]), 'below'), BusError);
    bus.register(0xd0001000, 0x1000, recordingDevice([]), 'adjacent');
    assert.equal(bus.ranges.length, 2);
  });

  it('rejects empty, negative and out-of-space ranges', () => {
    const bus = new IoBus('pio');
    assert.throws(() => bus.register(0x10, 0, recordingDevice([])), BusError);
    assert.throws(() => bus.register(-1, 4, recordingDevice([])), BusError);
    assert.throws(() => bus.register(0xfffe, 4, recordingDevice([])), BusError);
  });

  it('answers unowned reads with all-ones and reports them as unhandled', () => {
    const bus = new IoBus('pio');
    const data = new Uint8Array(4);
    assert.equal(bus.read(0x80, data), false);
    assert.deepEqual(Array.from(data), [0xff, 0xff, 0xff, 0xff]);
    assert.equal(bus.write(0x80, data), false);
  });

  it('does not route an access that straddles the end of a range', () => {
    const bus = new IoBus('pio');
    bus.register(0x60, 1, recordingDevice([]));
    assert.equal(bus.find(0x60, 2), undefined);
    assert.notEqual(bus.find(0x60, 1), undefined);
    assert.equal(bus.find(Number.NaN), undefined);
  });

  it('finds ranges among many and forgets unregistered ones', () => {
    const bus = new IoBus('mmio');
    for (let i = 0; i < 64; i++) bus.register(0x1000 * i, 0x100, recordingDevice([]), `dev${i}`);
    assert.equal(bus.find(0x1000 * 37 + 0x80)?.name, 'dev37');
    assert.equal(bus.find(0x1000 * 37 + 0x180), undefined);
    assert.equal(bus.unregister(0x1000 * 37), true);
    assert.equal(bus.find(0x1000 * 37 + 0x80), undefined);
    assert.equal(bus.unregister(0x1000 * 37), false);
  });
});
