import { strict as assert } from 'node:assert';
import { buildMptable, IOAPIC_ADDRESS, IOAPIC_PINS, MAX_MPTABLE_VCPUS, MPTABLE_ADDRESS, MPTABLE_LIMIT } from '../../lib/arch/x86_64/mptable';
import { ConfigError } from '../../lib/kvm/errors';

const sum = (bytes: Uint8Array): number => bytes.reduce((s, b) => s + b, 0) & 0xff;

describe('MP table', () => {
  it('has a valid floating pointer and configuration table (signatures, lengths, checksums)', () => {
    const table = buildMptable(4);
    const view = new DataView(table.buffer);
    assert.equal(Buffer.from(table.subarray(0, 4)).toString(), '_MP_');
    assert.equal(sum(table.subarray(0, 16)), 0);
    assert.equal(view.getUint32(4, true), MPTABLE_ADDRESS + 16);
    const config = table.subarray(16);
    assert.equal(Buffer.from(config.subarray(0, 4)).toString(), 'PCMP');
    assert.equal(view.getUint16(16 + 4, true), config.length);
    assert.equal(sum(config), 0);
    assert.equal(view.getUint16(16 + 34, true), 4 + 2 + IOAPIC_PINS + 2);
  });

  it('lists every vCPU with the first as bootstrap processor, then the IOAPIC after them', () => {
    const table = buildMptable(3);
    const processors = [0, 1, 2].map((i) => table.subarray(60 + i * 20, 80 + i * 20));
    assert.deepEqual(processors.map((p) => [p[0], p[1], p[3]]), [[0, 0, 3], [0, 1, 1], [0, 2, 1]]);
    const ioapic = table.subarray(60 + 3 * 20 + 8, 60 + 3 * 20 + 16);
    assert.equal(ioapic[0], 2);
    assert.equal(ioapic[1], 3);
    assert.equal(new DataView(ioapic.buffer, ioapic.byteOffset).getUint32(4, true), IOAPIC_ADDRESS);
  });

  it('fits in the reserved last KiB of base memory, and refuses more vCPUs than fit', () => {
    assert.ok(MPTABLE_ADDRESS + buildMptable(MAX_MPTABLE_VCPUS).length <= MPTABLE_LIMIT);
    assert.throws(() => buildMptable(MAX_MPTABLE_VCPUS + 1), ConfigError);
    assert.throws(() => buildMptable(0), ConfigError);
  });
});
