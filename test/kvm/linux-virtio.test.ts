// Debian's unmodified cloud kernel on node-vmm's virtio devices, found through the ACPI DSDT (the
// kernel has no CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES): an initramfs loads the virtio modules from the
// kernel's own package and switches to an ext4 root on virtio-blk, whose init pings the host over
// virtio-net, writes a file and powers off through ACPI. Needs guest kernel mode to run natively.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLinuxMachine } from '../../lib/boot/linux-machine';
import { KernelModeProbe, probeKernelMode } from '../../lib/cli/kernel-mode-probe';
import { VirtioBlkDevice } from '../../lib/devices/virtio/blk/device';
import { VirtioNetDevice } from '../../lib/devices/virtio/net/device';
import { watchConsole } from '../helpers/console-watch';
import { buildCpio, CpioEntry } from '../helpers/cpio';
import { fullLinuxBootUnavailable, requireKvm } from '../helpers/kvm';
import { NetNamespace, requireNetns } from '../helpers/netns';
import { Cleanup } from '../helpers/cleanup';
import { missingPrerequisite, notOnThisHost } from '../helpers/prerequisite';

const MiB = 1024 * 1024;
const BUSYBOX = '/bin/busybox';
const STALL_MS = 60_000;
const HOST_IP = '10.77.3.1';
const GUEST_IP = '10.77.3.2';
/** The drivers the guest needs; their dependencies come from the kernel's modules.dep. */
const DRIVERS = ['kernel/drivers/virtio/virtio_mmio.ko', 'kernel/drivers/block/virtio_blk.ko', 'kernel/drivers/net/virtio_net.ko'];
const ROOT_MARK = 'node-vmm ext4 root';
const CMDLINE = 'console=ttyS0 reboot=k panic=-1 pci=off i8042.noaux rdinit=/init';

const INITRAMFS_INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /newroot
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev
for m in $(/bin/busybox cat /modules/order); do /bin/busybox insmod /modules/$m || echo "insmod $m failed"; done
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do [ -b /dev/vda ] && break; /bin/busybox sleep 0.5; done
/bin/busybox mount -t ext4 /dev/vda /newroot || echo "mounting /dev/vda failed"
/bin/busybox mount --move /dev /newroot/dev
exec /bin/busybox switch_root /newroot /init
`;

const ROOT_INIT = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
echo "root says: $(/bin/busybox cat /mark)"
/bin/busybox grep -q ' / ext4 ' /proc/mounts && echo "root is ext4"
/bin/busybox ip link set eth0 up
/bin/busybox ip addr add ${GUEST_IP}/24 dev eth0
/bin/busybox ping -c 2 -W 5 ${HOST_IP} && echo "ping ok"
echo "written by the guest" > /from-guest
/bin/busybox sync
/bin/busybox poweroff -f
`;

function cloudKernel(): { kernel: string; modules: string } | undefined {
  const name = fs.existsSync('/boot') ? fs.readdirSync('/boot').find((f) => /^vmlinuz-.*-cloud-amd64$/.test(f)) : undefined;
  if (name === undefined) return undefined;
  const modules = `/lib/modules/${name.replace(/^vmlinuz-/, '')}`;
  return fs.existsSync(path.join(modules, 'modules.dep')) ? { kernel: `/boot/${name}`, modules } : undefined;
}

/** `targets` and everything they need, each after its dependencies (modules.dep lists them per module). */
function moduleLoadOrder(modulesDep: string, targets: readonly string[]): string[] {
  const dependencies = new Map(
    modulesDep
      .split('\n')
      .filter((line) => line.includes(':'))
      .map((line) => {
        const [module, rest] = line.split(':') as [string, string];
        return [module, rest.trim().split(/\s+/).filter(Boolean)] as const;
      }),
  );
  const order: string[] = [];
  const visit = (module: string): void => {
    if (order.includes(module)) return;
    const needs = dependencies.get(module);
    if (needs === undefined) throw new Error(`${module} is not in modules.dep`);
    needs.forEach(visit);
    order.push(module);
  };
  targets.forEach(visit);
  return order;
}

function initramfs(modules: string): Buffer {
  const order = moduleLoadOrder(fs.readFileSync(path.join(modules, 'modules.dep'), 'utf8'), DRIVERS);
  const entries: CpioEntry[] = [
    { kind: 'dir', path: 'bin' },
    { kind: 'dir', path: 'dev' },
    { kind: 'dir', path: 'modules' },
    { kind: 'char', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'file', path: 'bin/busybox', data: fs.readFileSync(BUSYBOX), mode: 0o755 },
    { kind: 'file', path: 'init', data: Buffer.from(INITRAMFS_INIT), mode: 0o755 },
    { kind: 'file', path: 'modules/order', data: Buffer.from(order.map((m) => path.basename(m)).join(' ')), mode: 0o644 },
    ...order.map((m): CpioEntry => ({ kind: 'file', path: `modules/${path.basename(m)}`, data: fs.readFileSync(path.join(modules, m)), mode: 0o644 })),
  ];
  return buildCpio(entries);
}

/** A 32 MiB ext4 image holding busybox, the root's init and a marker file. */
function ext4Root(dir: string): string {
  const tree = path.join(dir, 'root');
  for (const sub of ['bin', 'dev', 'proc']) fs.mkdirSync(path.join(tree, sub), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(tree, 'bin', 'busybox'));
  fs.chmodSync(path.join(tree, 'bin', 'busybox'), 0o755);
  fs.writeFileSync(path.join(tree, 'init'), ROOT_INIT, { mode: 0o755 });
  fs.writeFileSync(path.join(tree, 'mark'), ROOT_MARK);
  const image = path.join(dir, 'root.ext4');
  execFileSync('mkfs.ext4', ['-q', '-F', '-d', tree, image, '32M']);
  return image;
}

describe("Debian's kernel on virtio-mmio devices found through ACPI (real KVM)", function () {
  let probe: KernelModeProbe;
  let kernel: { kernel: string; modules: string } | undefined;
  before(async function () {
    requireKvm(this);
    kernel = cloudKernel();
    if (kernel === undefined || !fs.existsSync(BUSYBOX)) {
      missingPrerequisite(this, 'no /boot/vmlinuz-*-cloud-amd64 with its /lib/modules, or no /bin/busybox', 'apt-get install linux-image-cloud-amd64 busybox-static');
    }
    probe = await probeKernelMode();
  });

  it('mounts an ext4 root on virtio-blk, pings the host over virtio-net, and powers off through ACPI', async function () {
    this.timeout(10 * 60_000);
    const unavailable = fullLinuxBootUnavailable(probe);
    if (unavailable !== undefined) {
      notOnThisHost(this, `${unavailable}, so Linux does not reliably reach its root here (linux-boot's ACPI test checks the tables at early boot)`);
    }
    requireNetns(this);
    const found = kernel as { kernel: string; modules: string };
    const cleanup = new Cleanup();
    try {
      const dir = cleanup.add(fs.mkdtempSync(path.join(os.tmpdir(), 'node-vmm-linux-virtio-')), (d) => fs.rmSync(d, { recursive: true, force: true }));
      const image = ext4Root(dir);
      const netDevice = new VirtioNetDevice({ tap: `nvlv${process.pid % 100000}`, mac: '52:54:00:12:34:58' });
      const namespace = cleanup.add(new NetNamespace(`node-vmm-linux-${process.pid}`), (n) => n.delete());
      namespace.adopt(netDevice.tap.name, `${HOST_IP}/24`);
      const devices = [new VirtioBlkDevice({ path: image }), netDevice];
      const { machine, console: serial } = createLinuxMachine({
        kernel: fs.readFileSync(found.kernel),
        initrd: initramfs(found.modules),
        cmdline: CMDLINE,
        memorySize: 256 * MiB,
        devices,
        acpi: true,
      });
      try {
        await machine.start();
        const { output, exit } = await watchConsole(machine, serial, { stallMs: STALL_MS });
        assert.match(output, /virtio_blk virtio\d+: \[vda\]/, 'virtio-blk found through ACPI');
        assert.ok(output.includes(`root says: ${ROOT_MARK}`), `the ext4 root's init ran:\n${output.slice(-1500)}`);
        assert.ok(output.includes('root is ext4'));
        assert.ok(output.includes('ping ok'), `the host answered the ping:\n${output.slice(-1500)}`);
        assert.equal(exit?.reason, 'shutdown', 'poweroff -f ended the VM through the ACPI sleep register');
      } finally {
        await machine.dispose();
      }
      const written = execFileSync('debugfs', ['-R', 'cat /from-guest', image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      assert.equal(written.trim(), 'written by the guest', 'the guest wrote its root file system');
    } finally {
      await cleanup.run();
    }
  });
});
