// createVm's declarative devices end to end: the bundled guest's self-test with `disks`, `networks`,
// `vsock` and `rng` reports all four ok; `node-vmm run --disk --rng` answers `blk 0` and `rng`; each bad
// option gives its VmConfigError with its field, and leaves no VM, fd or mapping behind.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { createVm } from '../../lib/api/create-vm';
import type { VmConfig } from '../../lib/api/config';
import { VmConfigError, VmFileError } from '../../lib/api/errors';
import { BUNDLED_GUEST_SELFTEST_CMDLINE } from '../../lib/guest/bundled';
import { Cleanup } from '../helpers/cleanup';
import { requireKvm, settledFdCount, retryUnderEmulation, vmMappingCount } from '../helpers/kvm';
import { NetNamespace, requireNetns } from '../helpers/netns';
import { makeSocketDir } from '../helpers/socket-dir';
import { parseTap } from '../helpers/tap';

const MAIN = path.resolve(__dirname, '..', '..', 'lib', 'cli', 'main.js');
const GUEST_MIB = 48;

describe('declarative devices through createVm and node-vmm run (real KVM)', function () {
  this.timeout(120_000);
  const cleanup = new Cleanup();
  let dir: string;
  before(function () {
    requireKvm(this);
    dir = cleanup.add(makeSocketDir('declarative-'), (d) => fs.rmSync(d, { recursive: true, force: true }));
  });
  after(() => cleanup.run());

  it('the self-test with disks, networks, vsock and rng given to createVm reports all four ok', async function () {
    requireNetns(this);
    retryUnderEmulation(this, 2);
    const local = new Cleanup();
    try {
      const disk = path.join(dir, 'disk.img');
      fs.writeFileSync(disk, Buffer.concat([Buffer.from('declared disk'), Buffer.alloc(64 * 1024)]));
      const socketPath = path.join(dir, 'v.sock');
      const echo = local.add(net.createServer((socket) => socket.pipe(socket)), (server) => server.close());
      await new Promise<void>((resolve) => echo.listen(`${socketPath}_5000`, resolve));
      const tap = `nvdd${process.pid % 10000}`;
      const namespace = local.add(new NetNamespace(`node-vmm-declared-${process.pid}`), (n) => n.delete());
      const vm = await createVm({
        cmdline: `${BUNDLED_GUEST_SELFTEST_CMDLINE} nodevmm.ip=10.77.3.2 nodevmm.peer=10.77.3.1 nodevmm.vsock=5000`,
        memoryMiB: GUEST_MIB,
        disks: [disk],
        networks: [{ tap, mac: '52:54:00:12:34:59' }],
        vsock: { cid: 3, socketPath },
        rng: true,
      });
      local.defer(() => vm.dispose());
      namespace.adopt(tap, '10.77.3.1/24');
      assert.deepEqual(
        vm.devices.map((d) => d.id),
        ['serial0', 'i8042', 'debug-exit', 'blk0', 'net0', 'vsock0', 'rng0'],
      );
      assert.match(vm.cmdline, /virtio_mmio\.device=4K@0xd0000000:5 virtio_mmio\.device=4K@0xd0001000:6 virtio_mmio\.device=4K@0xd0002000:7 virtio_mmio\.device=4K@0xd0003000:9/);
      let output = '';
      vm.console.on('data', (chunk: Buffer) => (output += chunk.toString('latin1')));
      await vm.start();
      const exit = await vm.exited;
      await new Promise((resolve) => setImmediate(resolve));
      const names = parseTap(output).tests.filter((t) => t.ok).map((t) => t.description);
      for (const expected of ['virtio-rng: 32 random bytes, not constant', 'virtio-blk: sector 0 read', 'virtio-net: ARP request answered by nodevmm.peer', 'virtio-vsock: 600 bytes echoed by host port nodevmm.vsock']) {
        assert.ok(names.includes(expected), `${expected}; output:\n${output}`);
      }
      assert.equal(exit.status, 0, output);
      assert.ok(output.includes(`# virtio-blk sector 0: ${Buffer.from('declared disk').toString('hex')}`));
      const blk = vm.device('blk0') as { counters?: { get(name: string): number } };
      assert.ok((blk.counters?.get('readBytes') ?? 0) > 0, 'blk0 counted its reads');
    } finally {
      await local.run();
    }
  });

  it("node-vmm run --disk --rng: 'blk 0' prints the disk's first bytes and 'rng' 16 random bytes", async function () {
    retryUnderEmulation(this, 2);
    const disk = path.join(dir, 'cli-disk.img');
    fs.writeFileSync(disk, Buffer.concat([Buffer.from('hello from disk!'), Buffer.alloc(1024 * 1024)]));
    const { stdout, code } = await new Promise<{ stdout: string; code: number | null }>((resolve, reject) => {
      const child = execFile(process.execPath, [MAIN, 'run', '--disk', disk, '--rng'], { cwd: dir }, (error, out) => {
        if (error !== null && typeof error.code !== 'number') reject(error);
        else resolve({ stdout: out, code: error === null ? 0 : (error.code as number) });
      });
      child.stdin?.end('blk 0\nrng\nexit 0\n');
    });
    assert.equal(code, 0, stdout);
    assert.match(stdout, new RegExp(`blk 0\\r?\\n${Buffer.from('hello from disk!').toString('hex')}0{32}`), stdout);
    const random = /rng\r?\n([0-9a-f]{32})\r?\n/.exec(stdout)?.[1];
    assert.ok(random !== undefined && new Set(random).size > 4, `16 random bytes after 'rng':\n${stdout}`);
  });

  it('refuses each bad device option with its field, leaving no VM, fd or mapping behind', async () => {
    const disk = path.join(dir, 'ok.img');
    fs.writeFileSync(disk, Buffer.alloc(64 * 1024));
    const readOnlyFile = path.join(dir, 'ro.img');
    fs.writeFileSync(readOnlyFile, Buffer.alloc(4096));
    fs.chmodSync(readOnlyFile, 0o444);
    const busySocket = path.join(dir, 'busy.sock');
    const listener = net.createServer();
    await new Promise<void>((resolve) => listener.listen(busySocket, resolve));
    try {
      const cases: [VmConfig, string][] = [
        [{ disks: [path.join(dir, 'missing.img')] }, 'disks[0].path'],
        [{ disks: [disk, { path: path.join(dir, 'nope.img') }] }, 'disks[1].path'],
        [{ disks: [disk, disk] }, 'disks[1].path'],
        [{ disks: [{ path: disk, readOnly: 'yes' as unknown as boolean }] }, 'disks[0].readOnly'],
        [{ disks: [{ path: disk, extra: 1 } as unknown as string] }, 'disks[0].extra'],
        [{ disks: [disk], networks: [{ tap: 'a-name-far-too-long-for-linux' }] }, 'networks[0].tap'],
        [{ networks: [{ tap: 'nvok0', mac: '01:00:5e:00:00:01' }] }, 'networks[0].mac'],
        [{ networks: [{ tap: 'nvok0' }, { tap: 'nvok0' }] }, 'networks[1].tap'],
        [{ disks: [disk], vsock: { cid: 2, socketPath: path.join(dir, 'x.sock') } }, 'vsock.cid'],
        [{ disks: [disk], vsock: { cid: 3, socketPath: busySocket } }, 'vsock.socketPath'],
        [{ vsock: { cid: 3, socketPath: `${dir}/${'x'.repeat(120)}` } }, 'vsock.socketPath'],
        [{ rng: 'yes' as unknown as boolean }, 'rng'],
      ];
      if (process.getuid?.() === 0) {
        // As root the mode bits do not stop a write: a directory is what cannot be a disk.
        cases.push([{ disks: [dir] }, 'disks[0].path']);
        // 'lo' exists and is not a TAP: TUNSETIFF refuses it.
        cases.push([{ disks: [disk], networks: [{ tap: 'lo' }] }, 'networks[0].tap']);
      } else {
        cases.push([{ disks: [readOnlyFile] }, 'disks[0].path']);
      }
      await (await createVm({ memoryMiB: GUEST_MIB })).dispose(); // warm up module caches
      const fdsBefore = await settledFdCount();
      const mapsBefore = vmMappingCount(GUEST_MIB * 1024 * 1024);
      for (const [config, field] of cases) {
        await assert.rejects(createVm({ memoryMiB: GUEST_MIB, ...config }), (error: unknown) => {
          assert.ok(error instanceof VmConfigError, `${field}: expected a VmConfigError, got ${String(error)}`);
          assert.equal(error.field, field, `${String(error)}`);
          return true;
        });
      }
      await assert.rejects(createVm({ disks: [path.join(dir, 'missing.img')] }), VmFileError);
      assert.equal(await settledFdCount(), fdsBefore, 'no fd left behind');
      assert.equal(vmMappingCount(GUEST_MIB * 1024 * 1024), mapsBefore, 'no guest memory left behind');
      assert.ok(fs.existsSync(busySocket), 'the other program\'s socket is left alone');
    } finally {
      await new Promise((resolve) => listener.close(resolve));
    }
  });
});
