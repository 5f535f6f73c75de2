import { strict as assert } from 'node:assert';
import { KvmExit } from '../../lib/kvm/constants';
import { decodeExit } from '../../lib/kvm/exits';
import { RunPage, RUN_LAYOUT } from '../../lib/kvm/run-page';

function page(): { run: RunPage; view: DataView } {
  const run = new RunPage(new ArrayBuffer(3 * 4096));
  return { run, view: run.view };
}

describe('exit decoding', () => {
  it('decodes port I/O exits', () => {
    const { run, view } = page();
    view.setUint8(RUN_LAYOUT['io.direction'], 1);
    view.setUint8(RUN_LAYOUT['io.size'], 2);
    view.setUint16(RUN_LAYOUT['io.port'], 0x3f8, true);
    view.setUint32(RUN_LAYOUT['io.count'], 1, true);
    view.setBigUint64(RUN_LAYOUT['io.data_offset'], 4096n, true);
    assert.deepEqual(decodeExit(KvmExit.IO, run), { kind: 'io', direction: 'out', size: 2, port: 0x3f8, count: 1, dataOffset: 4096 });
  });

  it('decodes MMIO exits', () => {
    const { run, view } = page();
    view.setBigUint64(RUN_LAYOUT['mmio.phys_addr'], 0xd0000000n, true);
    view.setUint32(RUN_LAYOUT['mmio.len'], 4, true);
    view.setUint8(RUN_LAYOUT['mmio.is_write'], 0);
    assert.deepEqual(decodeExit(KvmExit.MMIO, run), { kind: 'mmio', address: 0xd0000000n, length: 4, isWrite: false, dataOffset: 40 });
  });

  it('decodes internal errors with their suberror and data words', () => {
    const { run, view } = page();
    view.setUint32(RUN_LAYOUT['internal.suberror'], 1, true);
    view.setUint32(RUN_LAYOUT['internal.ndata'], 2, true);
    view.setBigUint64(RUN_LAYOUT['internal.data'], 0xfn, true);
    view.setBigUint64(RUN_LAYOUT['internal.data'] + 8, 0x10n, true);
    assert.deepEqual(decodeExit(KvmExit.INTERNAL_ERROR, run), { kind: 'internal-error', suberror: 1, suberrorName: 'EMULATION', data: [0xfn, 0x10n] });
  });

  it('caps the data words of a corrupt ndata at 16', () => {
    const { run, view } = page();
    view.setUint32(RUN_LAYOUT['internal.ndata'], 0xffffffff, true);
    const exit = decodeExit(KvmExit.INTERNAL_ERROR, run);
    assert.equal(exit.kind === 'internal-error' && exit.data.length, 16);
  });

  it('decodes system events, entry failures and the simple exits', () => {
    const { run, view } = page();
    view.setUint32(RUN_LAYOUT['system_event.type'], 2, true);
    assert.deepEqual(decodeExit(KvmExit.SYSTEM_EVENT, run), { kind: 'system-event', type: 'reset', typeCode: 2, data: [] });
    view.setBigUint64(RUN_LAYOUT['fail_entry.hardware_entry_failure_reason'], 0x80000021n, true);
    view.setUint32(RUN_LAYOUT['fail_entry.cpu'], 1, true);
    assert.deepEqual(decodeExit(KvmExit.FAIL_ENTRY, run), { kind: 'fail-entry', hardwareEntryFailureReason: 0x80000021n, cpu: 1 });
    assert.deepEqual(decodeExit(KvmExit.HLT, run), { kind: 'hlt' });
    assert.deepEqual(decodeExit(KvmExit.SHUTDOWN, run), { kind: 'shutdown' });
    assert.deepEqual(decodeExit(KvmExit.INTR, run), { kind: 'interrupted' });
  });

  it('reports exits it does not model instead of dropping them', () => {
    const { run } = page();
    assert.deepEqual(decodeExit(KvmExit.X86_RDMSR, run), { kind: 'other', reason: 29, name: 'X86_RDMSR' });
    assert.deepEqual(decodeExit(999, run), { kind: 'other', reason: 999, name: 'EXIT_999' });
  });
});
