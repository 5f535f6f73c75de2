// Pause, snapshot, restore and clone with the bundled guest on real KVM: the restored guest answers
// its next shell command and its uptime goes on (1 and 2 vCPUs, in memory and through files, and a
// snapshot of a restored VM); a disk write made before the snapshot reads back after; ARP works after
// a restore with a TAP override; clones diverge; 100 clones answer at once; and every bad input is a
// SnapshotError that leaves no fd or mapping behind.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createVm } from '../../lib/api/create-vm';
import type { VmConfig } from '../../lib/api/config';
import { restoreVm } from '../../lib/api/restore-vm';
import { SnapshotError } from '../../lib/api/snapshot/errors';
import { KvmUnavailableError } from '../../lib/kvm/errors';
import { Kvm } from '../../lib/kvm/kvm';
import { MEMORY_FILE_NAME, STATE_FILE_NAME } from '../../lib/api/snapshot/files';
import type { VirtualMachine } from '../../lib/api/virtual-machine';
import { Cleanup } from '../helpers/cleanup';
import { GuestShell } from '../helpers/guest-shell';
import { requireKvm, settledFdCount, retryUnderEmulation, vmMappingCount } from '../helpers/kvm';
import { NetNamespace, requireNetns } from '../helpers/netns';
import { makeSocketDir } from '../helpers/socket-dir';

const GUEST_MIB = 48;
const GUEST_BYTES = GUEST_MIB * 1024 * 1024;
const CLONES = 100;

/** Boots the bundled guest's shell and waits for its prompt. */
async function bootShell(cleanup: Cleanup, config: VmConfig = {}): Promise<{ vm: VirtualMachine; shell: GuestShell }> {
  const vm = cleanup.add(await createVm({ memoryMiB: GUEST_MIB, ...config }), (v) => v.dispose());
  const shell = new GuestShell(vm);
  await vm.start();
  await shell.prompt();
  return { vm, shell };
}

function uptimeTicks(output: string): number {
  const match = /up \d+ s \((\d+) ticks\)/.exec(output);
  assert.ok(match, `an uptime line in ${JSON.stringify(output)}`);
  return Number(match[1]);
}

describe('pause, snapshot, restore and clone (real KVM, the bundled guest)', function () {
  this.timeout(180_000);
  const cleanup = new Cleanup();
  let dir: string;
  before(function () {
    requireKvm(this);
    dir = cleanup.add(makeSocketDir('snapshot-'), (d) => fs.rmSync(d, { recursive: true, force: true }));
  });
  after(() => cleanup.run());

  it('pauses and resumes: a paused guest does not answer, then answers, with the events', async function () {
    retryUnderEmulation(this, 2);
    const local = new Cleanup();
    try {
      const { vm, shell } = await bootShell(local);
      const events: string[] = [];
      vm.on('pause', () => events.push('pause'));
      vm.on('resume', () => events.push('resume'));
      await vm.pause();
      assert.equal(vm.paused, true);
      const before = shell.text.length;
      vm.console.write('echo while paused\n');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(shell.text.length, before, 'nothing printed while paused');
      await vm.resume();
      assert.equal(vm.paused, false);
      await shell.prompt();
      assert.ok(shell.text.includes('while paused\r\n'), 'the input typed while paused is answered after resume');
      assert.deepEqual(events, ['pause', 'resume']);
    } finally {
      await local.run();
    }
  });

  for (const vcpus of [1, 2]) {
    it(`restores an in-memory snapshot with ${vcpus} vCPU${vcpus > 1 ? 's' : ''}: the shell answers and uptime goes on`, async function () {
      retryUnderEmulation(this, 2);
      const local = new Cleanup();
      try {
        const { vm, shell } = await bootShell(local, { vcpus });
        const ticksBefore = uptimeTicks(await shell.run('uptime'));
        await shell.run('note kept in guest memory');
        const snapshot = local.add(await vm.snapshot(), (s) => s.dispose());
        assert.equal(vm.paused, false, 'a running VM runs on after its snapshot');
        assert.ok(snapshot.memoryBytes > 0 && snapshot.memoryBytes < GUEST_BYTES / 2, `the snapshot holds the pages used (${snapshot.memoryBytes} bytes)`);
        await vm.dispose();
        const clone = local.add(await restoreVm(snapshot), (v) => v.dispose());
        const cloneShell = new GuestShell(clone);
        assert.match(await cloneShell.run('note'), /^note: kept in guest memory\r\n$/);
        const ticksAfter = uptimeTicks(await cloneShell.run('uptime'));
        assert.ok(ticksAfter >= ticksBefore, `uptime goes on: ${ticksBefore} -> ${ticksAfter} ticks`);
        assert.match(await cloneShell.run('cpus'), new RegExp(`^${vcpus} online of ${vcpus}\\r\\n$`));
      } finally {
        await local.run();
      }
    });
  }

  it('restores through files ({ path } and { statePath, memoryPath }), and a snapshot of a restored VM restores too', async function () {
    retryUnderEmulation(this, 2);
    const local = new Cleanup();
    try {
      const { vm, shell } = await bootShell(local);
      await shell.run('note first generation');
      const first = path.join(dir, 'first');
      await vm.snapshot({ path: first });
      assert.ok(fs.existsSync(path.join(first, STATE_FILE_NAME)) && fs.existsSync(path.join(first, MEMORY_FILE_NAME)));
      const memoryFile = fs.statSync(path.join(first, MEMORY_FILE_NAME));
      assert.equal(memoryFile.size, GUEST_BYTES, 'the memory file is the size of guest RAM');
      assert.ok(memoryFile.blocks * 512 < GUEST_BYTES / 2, `and sparse: ${memoryFile.blocks * 512} bytes allocated`);
      await vm.dispose();
      const second = local.add(await restoreVm({ path: first }), (v) => v.dispose());
      const secondShell = new GuestShell(second);
      assert.match(await secondShell.run('note'), /first generation/);
      await secondShell.run('note second generation');
      const statePath = path.join(dir, 'second.state');
      const memoryPath = path.join(dir, 'second.mem');
      await second.snapshot({ statePath, memoryPath });
      await second.dispose();
      const third = local.add(await restoreVm({ statePath, memoryPath }), (v) => v.dispose());
      const thirdShell = new GuestShell(third);
      assert.match(await thirdShell.run('note'), /second generation/);
      assert.match(await thirdShell.run('echo third'), /^third\r\n$/);
    } finally {
      await local.run();
    }
  });

  it('a disk write made before the snapshot reads back after the restore', async function () {
    retryUnderEmulation(this, 2);
    const local = new Cleanup();
    try {
      const disk = path.join(dir, 'disk.img');
      fs.writeFileSync(disk, Buffer.alloc(1024 * 1024));
      const { vm, shell } = await bootShell(local, { disks: [disk] });
      assert.match(await shell.run('blkw 3 written-before-the-snapshot'), /^written\r\n$/);
      const snapshot = local.add(await vm.snapshot(), (s) => s.dispose());
      await vm.dispose();
      assert.equal(fs.readFileSync(disk).subarray(3 * 512, 3 * 512 + 27).toString(), 'written-before-the-snapshot', 'the write reached the host file');
      const clone = local.add(await restoreVm(snapshot), (v) => v.dispose());
      const cloneShell = new GuestShell(clone);
      assert.match(await cloneShell.run('blk 3'), new RegExp(`^${Buffer.from('written-before-the-snapshot').toString('hex')}0*\\r\\n$`));
    } finally {
      await local.run();
    }
  });

  it('an ARP exchange works after a restore with a TAP override', async function () {
    requireNetns(this);
    retryUnderEmulation(this, 2);
    const local = new Cleanup();
    try {
      const firstTap = `nvsa${process.pid % 10000}`;
      const secondTap = `nvsb${process.pid % 10000}`;
      const namespace = local.add(new NetNamespace(`node-vmm-snap-${process.pid}`), (n) => n.delete());
      const { vm, shell } = await bootShell(local, { cmdline: 'nodevmm.ip=10.77.4.2 nodevmm.peer=10.77.4.1', networks: [{ tap: firstTap, id: 'eth0' }] });
      namespace.adopt(firstTap, '10.77.4.1/24');
      assert.match(await shell.run('arp'), /^peer answered\r\n$/);
      const snapshot = local.add(await vm.snapshot(), (s) => s.dispose());
      // The original keeps its TAP: a clone without an override would share it.
      await assert.rejects(restoreVm(snapshot), (error: unknown) => error instanceof SnapshotError && error.code === 'RESOURCE_IN_USE' && error.device === 'eth0');
      await vm.dispose(); // its TAP goes with it
      const clone = local.add(await restoreVm(snapshot, { networks: { eth0: { tap: secondTap } } }), (v) => v.dispose());
      namespace.adopt(secondTap, '10.77.4.1/24');
      const cloneShell = new GuestShell(clone);
      assert.match(await cloneShell.run('arp'), /^peer answered\r\n$/);
    } finally {
      await local.run();
    }
  });

  it('two clones diverge: a change in one is not seen in the other or in the original', async function () {
    retryUnderEmulation(this, 2);
    const local = new Cleanup();
    try {
      const { vm, shell } = await bootShell(local);
      await shell.run('note original');
      const snapshot = local.add(await vm.snapshot(), (s) => s.dispose());
      const a = new GuestShell(local.add(await restoreVm(snapshot), (v) => v.dispose()));
      const b = new GuestShell(local.add(await restoreVm(snapshot), (v) => v.dispose()));
      await a.run('note changed in clone a');
      assert.match(await b.run('note'), /^note: original\r\n$/, 'clone b keeps its own memory');
      assert.match(await shell.run('note'), /^note: original\r\n$/, 'the original too');
      await b.run('note changed in clone b');
      assert.match(await a.run('note'), /^note: changed in clone a\r\n$/);
      assert.match(await b.run('note'), /^note: changed in clone b\r\n$/);
    } finally {
      await local.run();
    }
  });

  it(`keeps ${CLONES} clones of one snapshot alive at once, each answering a shell command`, async function () {
    this.timeout(10 * 60_000);
    const local = new Cleanup();
    try {
      const { vm } = await bootShell(local);
      const snapshot = local.add(await vm.snapshot(), (s) => s.dispose());
      await vm.dispose();
      const started = Date.now();
      const clones: GuestShell[] = [];
      for (let i = 0; i < CLONES; i++) clones.push(new GuestShell(local.add(await restoreVm(snapshot), (v) => v.dispose())));
      const answers = await Promise.all(clones.map((clone, i) => clone.run(`echo clone ${i}`, 120_000)));
      answers.forEach((answer, i) => assert.equal(answer, `clone ${i}\r\n`));
      console.log(`      ${CLONES} clones restored and answering in ${Date.now() - started} ms`);
    } finally {
      await local.run();
    }
  });

  it('refuses bad snapshots and overrides with a SnapshotError, leaving no fd or mapping behind', async function () {
    retryUnderEmulation(this, 2);
    const local = new Cleanup();
    try {
      const disk = path.join(dir, 'bad-input-disk.img');
      fs.writeFileSync(disk, Buffer.alloc(64 * 1024));
      const { vm, shell } = await bootShell(local, { disks: [{ path: disk, id: 'root' }], rng: true, vsock: { cid: 3, socketPath: path.join(dir, 'bad-input.sock') } });
      await shell.run('echo ready');
      const good = path.join(dir, 'good');
      await vm.snapshot({ path: good });
      const snapshot = local.add(await vm.snapshot(), (s) => s.dispose());
      const state = fs.readFileSync(path.join(good, STATE_FILE_NAME));
      const variant = (name: string, bytes: Buffer, memory?: (file: string) => void): { statePath: string; memoryPath: string } => {
        const statePath = path.join(dir, `${name}.state`);
        const memoryPath = path.join(dir, `${name}.mem`);
        fs.writeFileSync(statePath, bytes);
        fs.copyFileSync(path.join(good, MEMORY_FILE_NAME), memoryPath);
        memory?.(memoryPath);
        return { statePath, memoryPath };
      };
      const corrupted = Buffer.from(state);
      corrupted[corrupted.length >> 1] ^= 0x40;
      const wrongVersion = Buffer.from(state);
      wrongVersion.writeUInt32LE(99, 8);
      const wrongArch = Buffer.from(state);
      wrongArch.writeUInt32LE(2, 12);
      const notOurs = Buffer.from(state);
      notOurs.write('NOTASNAP', 0, 'latin1');
      const cases: [string, Parameters<typeof restoreVm>[0], Parameters<typeof restoreVm>[1], string][] = [
        ['truncated', variant('truncated', state.subarray(0, state.length - 100)), {}, 'TRUNCATED'],
        ['a header only', variant('header', state.subarray(0, 10)), {}, 'TRUNCATED'],
        ['corrupted', variant('corrupted', corrupted), {}, 'BAD_CHECKSUM'],
        ['a wrong version', variant('version', wrongVersion), {}, 'UNSUPPORTED_VERSION'],
        ['a wrong architecture', variant('arch', wrongArch), {}, 'WRONG_ARCH'],
        ['not a snapshot', variant('magic', notOurs), {}, 'BAD_MAGIC'],
        ['a memory file of the wrong size', variant('short-memory', state, (file) => fs.truncateSync(file, GUEST_BYTES - 4096)), {}, 'MEMORY_SIZE'],
        ['a missing state file', { statePath: path.join(dir, 'nope.state'), memoryPath: path.join(good, MEMORY_FILE_NAME) }, {}, 'IO'],
        ['an override for a disk it does not have', snapshot, { disks: { nope: { path: disk } } }, 'OVERRIDE_MISMATCH'],
        ['an override for a network it does not have', snapshot, { networks: { net9: { tap: 'x' } } }, 'OVERRIDE_MISMATCH'],
        ['an unknown option', snapshot, { bogus: 1 } as never, 'OVERRIDE_MISMATCH'],
        ['a writable disk the original still uses', snapshot, { vsock: { socketPath: path.join(dir, 'clone.sock') } }, 'RESOURCE_IN_USE'],
        ['a vsock socket the original still uses', snapshot, { disks: { root: { path: path.join(dir, 'clone.img') } } }, 'RESOURCE_IN_USE'],
      ];
      fs.writeFileSync(path.join(dir, 'clone.img'), Buffer.alloc(64 * 1024));
      const fdsBefore = await settledFdCount();
      const mapsBefore = vmMappingCount(GUEST_BYTES);
      for (const [what, source, options, code] of cases) {
        await assert.rejects(restoreVm(source, options), (error: unknown) => {
          assert.ok(error instanceof SnapshotError, `${what}: expected a SnapshotError, got ${String(error)}`);
          assert.equal(error.code, code, `${what}: ${error.message}`);
          return true;
        });
      }
      assert.equal(await settledFdCount(), fdsBefore, 'no fd left behind');
      assert.equal(vmMappingCount(GUEST_BYTES), mapsBefore, 'no guest memory left behind');
      // A host without /dev/kvm is the host's problem, not the snapshot's: its own error passes through.
      const open = Kvm.open;
      Kvm.open = (): Kvm => {
        throw new KvmUnavailableError('missing', '/dev/kvm does not exist (stand-in for a host without KVM)');
      };
      try {
        await assert.rejects(restoreVm(snapshot, { disks: { root: { path: path.join(dir, 'clone.img') } }, vsock: { socketPath: path.join(dir, 'clone.sock') } }), (error: unknown) => {
          assert.ok(error instanceof KvmUnavailableError, `expected a KvmUnavailableError, got ${String(error)}`);
          assert.equal(error.reason, 'missing');
          return true;
        });
      } finally {
        Kvm.open = open;
      }
      assert.equal(await settledFdCount(), fdsBefore, 'no fd left behind without KVM');
      assert.equal(vmMappingCount(GUEST_BYTES), mapsBefore, 'no guest memory left behind without KVM');
      snapshot.dispose();
      await assert.rejects(restoreVm(snapshot), (error: unknown) => error instanceof SnapshotError && error.code === 'NOT_AVAILABLE');
      assert.match(await shell.run('echo still fine'), /^still fine\r\n$/, 'the original VM was not disturbed');
    } finally {
      await local.run();
    }
  });
});
