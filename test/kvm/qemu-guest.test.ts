// The bundled guest's self-test under QEMU's microvm machine (its PVH ELF, QEMU's own virtio-mmio
// devices), the same guest bench/peer runs there: at depth 1 with rng and blk, at depth 32 with rng,
// blk and net (ARP through a TAP in a network namespace). QEMU offers VIRTIO_F_EVENT_IDX on every
// device (node-vmm on rng, blk and net), with its own idea of when to ask for a notification.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BUNDLED_GUEST_READY_MARKER, BUNDLED_GUEST_SELFTEST_CMDLINE, bundledGuestElfPath } from '../../lib/guest/bundled';
import { TapDevice } from '../../lib/net/tap';
import { Cleanup } from '../helpers/cleanup';
import { requireKvm } from '../helpers/kvm';
import { NetNamespace, requireNetns } from '../helpers/netns';
import { debugExitStatus, requireQemu, startQemu } from '../helpers/qemu';
import { parseTap } from '../helpers/tap';

const MEMORY_MIB = 64;
const RUN_MS = 60_000;

describe('the bundled guest under QEMU microvm (real KVM)', function () {
  before(function () {
    requireKvm(this);
    requireQemu(this);
  });

  async function selftest(cleanup: Cleanup, depth: number, net: boolean): Promise<string> {
    const dir = cleanup.add(fs.mkdtempSync(path.join(os.tmpdir(), 'qemu-guest-')), (d) => fs.rmSync(d, { recursive: true, force: true }));
    const disk = path.join(dir, 'disk.img');
    const signature = Buffer.from('node-vmm disk #1');
    fs.writeFileSync(disk, Buffer.concat([signature, Buffer.alloc(64 * 1024 - signature.length)]));
    let cmdline = `${BUNDLED_GUEST_SELFTEST_CMDLINE} nodevmm.mem=${MEMORY_MIB} nodevmm.depth=${depth}`;
    const fds: number[] = [];
    if (net) {
      const tap = cleanup.add(TapDevice.open(`nvq${process.pid % 100000}`), (t) => t.close());
      const namespace = cleanup.add(new NetNamespace(`node-vmm-qemu-${process.pid}`), (n) => n.delete());
      namespace.adopt(tap.name, '10.77.3.1/24');
      fds.push(tap.fd);
      cmdline += ' nodevmm.ip=10.77.3.2 nodevmm.peer=10.77.3.1';
    }
    const qemu = startQemu({ kernel: bundledGuestElfPath(), cmdline, memoryMiB: MEMORY_MIB, rng: true, disk, ...(net ? { tap: { fd: 3 } } : {}) }, { fds });
    cleanup.defer(() => qemu.kill());
    const timer = setTimeout(() => qemu.kill(), RUN_MS);
    cleanup.defer(() => clearTimeout(timer));
    const { code, stderr } = await qemu.exited;
    const output = qemu.output();
    assert.equal(debugExitStatus(code), 0, `QEMU exit code ${code} (status ${debugExitStatus(code)}); stderr:\n${stderr}\noutput:\n${output}`);
    assert.ok(output.startsWith(`${BUNDLED_GUEST_READY_MARKER}\r\n`), 'the ready marker comes first');
    const tap = parseTap(output);
    assert.equal(tap.tests.length, tap.planned, output);
    tap.tests.forEach((test) => assert.ok(test.ok, `${test.description}\n${output}`));
    const names = tap.tests.map((t) => t.description);
    for (const expected of ['virtio-rng: 32 random bytes, not constant', 'virtio-blk: sector 0 read', ...(net ? ['virtio-net: ARP request answered by nodevmm.peer'] : [])]) {
      assert.ok(names.includes(expected), `${expected} in ${names.join('; ')}`);
    }
    assert.ok(output.includes(`# virtio-blk sector 0: ${signature.toString('hex')}`), 'the guest read the disk through QEMU');
    assert.ok(output.includes(`# virtio: up to ${depth} chains in flight per queue`));
    return output;
  }

  it('passes its self-test at depth 1 with virtio-rng and virtio-blk, booted as a PVH ELF', async function () {
    this.timeout(RUN_MS + 10_000);
    const cleanup = new Cleanup();
    try {
      await selftest(cleanup, 1, false);
    } finally {
      await cleanup.run();
    }
  });

  it('passes its self-test at depth 32 with virtio-rng, virtio-blk and virtio-net (ARP through a TAP)', async function () {
    this.timeout(RUN_MS + 10_000);
    requireNetns(this);
    const cleanup = new Cleanup();
    try {
      await selftest(cleanup, 32, true);
    } finally {
      await cleanup.run();
    }
  });
});
