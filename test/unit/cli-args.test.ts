// `node-vmm run` argument parsing, exit codes and the Ctrl-A x escape filter (no KVM needed).
import { strict as assert } from 'node:assert';
import { createEscapeFilter, exitCodeFor, parseRunArgs, RUN_USAGE, UsageError } from '../../lib/cli/run';
import type { VmExit } from '../../lib/api/vm-exit';
import { VcpuError } from '../../lib/kvm/errors';

const exit = (fields: Partial<VmExit> & Pick<VmExit, 'reason'>): VmExit => ({ vcpus: [], registers: [], ...fields });

describe('node-vmm run arguments', () => {
  it('with no arguments boots the bundled guest with the defaults', () => {
    assert.deepEqual(parseRunArgs([]), { help: false, config: {} });
  });

  it('reads every option', () => {
    const args = parseRunArgs(['--kernel', '/k', '--initrd', '/i', '--cmdline', 'console=ttyS0 quiet', '--mem', '256', '--cpus', '2', '--acpi']);
    assert.deepEqual(args, { help: false, config: { kernel: '/k', initrd: '/i', cmdline: 'console=ttyS0 quiet', memoryMiB: 256, vcpus: 2, acpi: true } });
    assert.deepEqual(parseRunArgs(['--mem=64']), { help: false, config: { memoryMiB: 64 } });
  });

  it('defaults the command line to console=ttyS0 for a kernel of ones own', () => {
    assert.deepEqual(parseRunArgs(['--kernel', '/k']), { help: false, config: { kernel: '/k', cmdline: 'console=ttyS0' } });
    assert.deepEqual(parseRunArgs(['--kernel', '/k', '--cmdline', '']), { help: false, config: { kernel: '/k', cmdline: '' } });
  });

  it('recognises --help and -h', () => {
    assert.deepEqual(parseRunArgs(['--help']), { help: true });
    assert.deepEqual(parseRunArgs(['-h', '--mem', '5']), { help: true });
    assert.match(RUN_USAGE, /Ctrl-A then x/);
  });

  it('rejects unknown options, positionals, missing values and non-integers', () => {
    assert.throws(() => parseRunArgs(['--memory', '5']), UsageError);
    assert.throws(() => parseRunArgs(['extra']), UsageError);
    assert.throws(() => parseRunArgs(['--kernel']), UsageError);
    assert.throws(() => parseRunArgs(['--mem', '1.5']), /--mem must be a positive integer/);
    assert.throws(() => parseRunArgs(['--cpus', 'two']), /--cpus must be a positive integer/);
    assert.throws(() => parseRunArgs(['--cpus', '-1']), UsageError);
  });

  it('maps how the VM ended to the exit code', () => {
    assert.equal(exitCodeFor(exit({ reason: 'exited', status: 3 })), 3);
    assert.equal(exitCodeFor(exit({ reason: 'exited', status: 0 })), 0);
    for (const reason of ['reset', 'shutdown', 'stopped', 'halted'] as const) assert.equal(exitCodeFor(exit({ reason })), 0);
    assert.equal(exitCodeFor(exit({ reason: 'fault', error: new VcpuError(0, 'x') })), 1);
    assert.equal(exitCodeFor(exit({ reason: 'error', error: new VcpuError(0, 'x') })), 1);
  });

  it('Ctrl-A x stops, Ctrl-A Ctrl-A sends one Ctrl-A, other bytes pass', () => {
    let escapes = 0;
    const filter = createEscapeFilter(() => escapes++);
    assert.deepEqual([...filter(Buffer.from('ab'))], [0x61, 0x62]);
    assert.deepEqual([...filter(Uint8Array.of(0x01))], []);
    assert.deepEqual([...filter(Uint8Array.of(0x01))], [0x01]);
    assert.deepEqual([...filter(Uint8Array.of(0x01, 0x63))], [0x01, 0x63]);
    assert.equal(escapes, 0);
    assert.deepEqual([...filter(Uint8Array.of(0x64, 0x01, 0x78, 0x65))], [0x64]);
    assert.equal(escapes, 1);
  });
});
