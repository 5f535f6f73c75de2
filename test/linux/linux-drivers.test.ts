// Linux's own drivers as the clients of node-vmm's devices: the test kernel (build-kernel.ts: Debian's
// linux-source-6.12, tinyconfig plus kernel.config, all built in) boots through createVm with
// virtio-blk (an ext4 root made here), virtio-net (a TAP in a network namespace, where a DHCP server
// answers the kernel's own ip=dhcp), virtio-rng and virtio-vsock (a host connection the guest kernel
// refuses), with 1 and with 2 vCPUs. The console must show each driver binding to its device and
// using it, the root mounted read-write and init started, and no complaint from any driver of our
// devices or ext4; the host then finds the image clean (e2fsck -n).
// Where guest kernel mode is emulated (nested PVM) Linux cannot enter user space: init dies at its
// first system call, the kernel panics and panic=-1 resets the VM. Where it runs natively, init (a
// busybox script on the root) uses the devices from user space and reboots.
// Each boot takes minutes where guest kernel mode is emulated, so there `npm test` leaves this to
// `npm run test:linux` (.ci/run runs it as its own step).
import { strict as assert } from 'node:assert';
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createVm } from '../../lib/api/create-vm';
import type { DeviceOptions } from '../../lib/api/device-options';
import type { VirtualMachine } from '../../lib/api/virtual-machine';
import type { VmExit } from '../../lib/api/vm-exit';
import { KernelModeProbe, probeKernelMode } from '../../lib/cli/kernel-mode-probe';
import { VirtioMmioDevice } from '../../lib/devices/virtio/transport/mmio-device';
import { Cleanup } from '../helpers/cleanup';
import { watchConsole } from '../helpers/console-watch';
import { requireKvm, retryUnderEmulation } from '../helpers/kvm';
import { NetNamespace, requireNetns } from '../helpers/netns';
import { missingPrerequisite, notOnThisHost } from '../helpers/prerequisite';
import { makeSocketDir } from '../helpers/socket-dir';
import { builtTestKernel, INSTALL_HINT, TestKernel } from './test-kernel';

/** Set by `npm run test:linux`: run the boots even where guest kernel mode is emulated. */
const RUN_ENV = 'NODE_VMM_LINUX_TESTS';
const BUSYBOX = '/bin/busybox';
const IMAGE_MIB = 64;
const SECTORS = (IMAGE_MIB * 1024 * 1024) / 512;
const MEMORY_MIB = 128;
const HOST_IP = '10.77.14.1';
const GUEST_IP = '10.77.14.2';
const NETMASK = '255.255.255.0';
const MAC = '52:54:00:12:34:14';
const GUEST_CID = 3;
/**
 * loglevel=8 and dyndbg: the driver core's "bound device to driver" line for every probe that worked;
 * ip=dhcp: the kernel configures virtio_net itself (frames both ways) before it mounts the root;
 * random.trust_*=off: the CRNG is not seeded from RDRAND or boot data, so hw_random (virtio-rng) seeds it.
 */
const CMDLINE = [
  'console=ttyS0 panic=-1 root=/dev/vda rw clearcpuid=smap,popcnt',
  'loglevel=8 dyndbg="func really_probe +p"',
  'ip=dhcp',
  'random.trust_cpu=off random.trust_bootloader=off',
].join(' ');
/**
 * Under emulation the boot prints all along; a long silence is a hang. With 2 vCPUs the stretch after
 * "Run /sbin/init" (init dying, the panic stopping the other CPU) was silent for more than 240 s once
 * at load 2-3 (2026-12-02), where whole 2-vCPU boots had taken up to 507 s; the boot's own timeout
 * stays 30 minutes.
 */
const STALL_MS = 480_000;
const BOOT_TIMEOUT_MS = 30 * 60_000;
const USER_SPACE_DONE = 'node-vmm init: done';
/** Linux's drivers for node-vmm's virtio devices, as the driver core names them. */
const VIRTIO_DRIVERS = ['virtio_blk', 'virtio_net', 'virtio_rng', 'vmw_vsock_virtio_transport'];
const VSOCK_BOUND = /really_probe: bound device to driver vmw_vsock_virtio_transport/;
const UNUSED_GUEST_PORT = 1234;
/** The ids createVm gives the first rng and vsock devices. */
const RNG_ID = 'rng0';
const VSOCK_ID = 'vsock0';

/** /sbin/init on the root, where guest kernel mode runs natively and Linux reaches user space. */
const INIT_SCRIPT = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
echo "node-vmm init: hwrng gave $(/bin/busybox head -c 64 /dev/hwrng | /bin/busybox wc -c) bytes"
/bin/busybox ping -c 1 -W 10 ${HOST_IP} >/dev/null && echo "node-vmm init: ping ok"
echo "written by the guest" > /from-guest
/bin/busybox sync
echo "${USER_SPACE_DONE}"
/bin/busybox reboot -f
`;

/** The devices the test attaches: blk on `image`, net on the TAP `tap`, rng, vsock on `vsockSocket`. */
function deviceOptions(image: string, tap: string, vsockSocket: string): DeviceOptions {
  return { disks: [image], networks: [{ tap, mac: MAC }], rng: true, vsock: { cid: GUEST_CID, socketPath: vsockSocket } };
}

/** A virtio device's back-end counter, read from the main thread wherever the back end runs. */
function counter(vm: VirtualMachine, id: string, name: string): number {
  const device = vm.device(id);
  return device instanceof VirtioMmioDevice ? (device.counters?.get(name) ?? 0) : 0;
}

/** A 64 MiB ext4 image with a static busybox and /sbin/init. */
function makeRoot(dir: string): string {
  const tree = path.join(dir, 'root');
  for (const sub of ['bin', 'sbin', 'dev', 'proc']) fs.mkdirSync(path.join(tree, sub), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(tree, 'bin', 'busybox'));
  fs.chmodSync(path.join(tree, 'bin', 'busybox'), 0o755);
  fs.writeFileSync(path.join(tree, 'sbin', 'init'), INIT_SCRIPT, { mode: 0o755 });
  const image = path.join(dir, 'root.ext4');
  execFileSync('mkfs.ext4', ['-q', '-F', '-d', tree, image, `${IMAGE_MIB}M`]);
  return image;
}

/** busybox's DHCP server in the namespace, offering the guest its one address. */
function startDhcpServer(namespace: NetNamespace, interfaceName: string, dir: string): ChildProcess {
  const config = path.join(dir, 'udhcpd.conf');
  fs.writeFileSync(
    config,
    [
      `interface ${interfaceName}`,
      `start ${GUEST_IP}`,
      `end ${GUEST_IP}`,
      'max_leases 1',
      `lease_file ${path.join(dir, 'udhcpd.leases')}`,
      `pidfile ${path.join(dir, 'udhcpd.pid')}`,
      `option subnet ${NETMASK}`,
      `option router ${HOST_IP}`,
      'option lease 3600',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(dir, 'udhcpd.leases'), '');
  const server = spawn('ip', ['netns', 'exec', namespace.name, BUSYBOX, 'udhcpd', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  server.stderr?.setEncoding('utf8');
  return server;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

interface Boot {
  output: string;
  exit: VmExit | undefined;
  rngBytes: number;
  dhcpLog: string;
  vsock: VsockProbe;
  /** The virtio devices' windows and lines, as placed by the machine. */
  windows: { id: string; base: number; irq: number }[];
}

/** What became of a host connection to a guest port nobody listens on, made once the transport bound. */
interface VsockProbe {
  outcome: 'refused while running' | 'accepted' | 'closed by the VM ending' | 'transport never bound';
  /** The vsock back end's counters when the host saw the outcome. */
  counters: { connections: number; refusedConnections: number; resets: number };
}

/**
 * Once Linux's virtio transport has bound, a host program asks for a guest port nobody listens on:
 * the back end passes the request to the guest, whose kernel answers with a reset through its tx
 * queue, which closes the host connection while the VM still runs.
 */
async function probeVsock(vm: VirtualMachine, bound: Promise<{ exit?: unknown }>, socketPath: string): Promise<VsockProbe> {
  let ended = false;
  void vm.exited.then(() => (ended = true));
  const counters = (): VsockProbe['counters'] => ({
    connections: counter(vm, VSOCK_ID, 'connections'),
    refusedConnections: counter(vm, VSOCK_ID, 'refusedConnections'),
    resets: counter(vm, VSOCK_ID, 'resets'),
  });
  if ((await bound).exit !== undefined) return { outcome: 'transport never bound', counters: counters() };
  const outcome = await new Promise<VsockProbe['outcome']>((resolve) => {
    const host = net.connect(socketPath);
    host.on('connect', () => host.write(`CONNECT ${UNUSED_GUEST_PORT}\n`));
    host.on('data', () => {
      resolve('accepted');
      host.destroy();
    });
    host.on('error', () => undefined);
    host.on('close', () => resolve(ended ? 'closed by the VM ending' : 'refused while running'));
  });
  return { outcome, counters: counters() };
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Boots the kernel with every device attached, to its end; everything it opened is released after. */
async function boot(kernel: TestKernel, vcpus: number, imagePath: string, dir: string): Promise<Boot> {
  const session = new Cleanup();
  try {
    const socketDir = session.add(makeSocketDir('node-vmm-linux-drivers-'), (d) => fs.rmSync(d, { recursive: true, force: true }));
    const socketPath = path.join(socketDir, 'vsock.sock');
    const tap = `nvld${process.pid % 100000}`;
    // Deleted after the VM (cleanup runs newest first), which closes the TAP it created.
    const namespace = session.add(new NetNamespace(`node-vmm-linux-drivers-${process.pid}`), (n) => n.delete());
    const vm = session.add(await createVm({ kernel: kernel.vmlinux, cmdline: CMDLINE, memoryMiB: MEMORY_MIB, vcpus, ...deviceOptions(imagePath, tap, socketPath) }), (v) => v.dispose());
    namespace.adopt(tap, `${HOST_IP}/24`);
    const dhcp = session.add(startDhcpServer(namespace, tap, dir), stopProcess);
    let dhcpLog = '';
    dhcp.stderr?.on('data', (chunk: string) => (dhcpLog += chunk));
    const windows = vm.devices.filter((device): device is VirtioMmioDevice => device instanceof VirtioMmioDevice).map((device) => ({ id: device.id, base: device.base, irq: device.irq }));
    const started = Date.now();
    await vm.start();
    const whole = watchConsole(vm, vm.console, { stallMs: STALL_MS });
    // A stall fails the whole watch above; this one only needs to know the line never came.
    const bound = watchConsole(vm, vm.console, { until: VSOCK_BOUND, stallMs: STALL_MS }).catch((error: unknown) => ({ exit: error }));
    const vsock = probeVsock(vm, bound, socketPath);
    const { output, exit } = await whole;
    const seconds = (Date.now() - started) / 1000;
    const finished = (exit as VmExit | undefined)?.vcpus.map((end) => `vCPU ${end.vcpu} ${Object.entries(end.recovered).map(([name, count]) => `${name} x${count}`).join(' ') || 'none'}`).join(', ');
    console.log(`      ${vcpus} vCPU${vcpus > 1 ? 's' : ''}: ${seconds.toFixed(0)} s from start to the end of the VM (${exit?.reason ?? '?'}); instructions node-vmm finished for KVM's emulator: ${finished ?? '?'}`);
    return { output, exit: exit as VmExit | undefined, rngBytes: counter(vm, RNG_ID, 'bytes'), dhcpLog, vsock: await vsock, windows };
  } finally {
    await session.run();
  }
}

/** Lines from the drivers of node-vmm's devices (and ext4 on vda). */
const DEVICE_LINE = /virtio|vda|EXT4|eth0|vsock|hwrng|hw_random|i8042|serio|atkbd|serial8250|ttyS0/i;
const COMPLAINT = /error|warn|fail|timed? ?out|bad|corrupt|invalid/i;

/** Console lines that are a device driver's or ext4's complaint, or any kernel warning or bug report. */
function complaints(output: string): string[] {
  return output
    .split('\n')
    .map((line) => line.replace(/\r$/, ''))
    .filter((line) => (DEVICE_LINE.test(line) && COMPLAINT.test(line)) || /WARNING: CPU|BUG:|cut here|probe with driver .* failed/.test(line));
}

function tools(): string | undefined {
  for (const [tool, args] of [
    ['mkfs.ext4', ['-V']],
    ['e2fsck', ['-V']],
  ] as const) {
    if (spawnSync(tool, [...args], { stdio: 'ignore' }).error !== undefined) return `no ${tool} (apt-get install e2fsprogs)`;
  }
  if (!fs.existsSync(BUSYBOX)) return `no ${BUSYBOX} (apt-get install busybox-static)`;
  return undefined;
}

describe("Linux's drivers on node-vmm's devices: virtio-blk, virtio-net, virtio-rng and virtio-vsock over virtio-mmio (real KVM)", function () {
  let kernel: TestKernel;
  let probe: KernelModeProbe;
  /** Why Linux stops short of user space here (init dies, the kernel panics), or undefined. */
  let noUserSpace: string | undefined;
  before(async function () {
    requireKvm(this);
    probe = await probeKernelMode();
    // Only emulated kernel mode keeps Linux out of user space; under .ci/kvm-vm it gets there, with
    // the random hangs that retryUnderEmulation covers.
    noUserSpace = probe.native ? undefined : `guest kernel mode is emulated here (${probe.nsPerIteration.toFixed(0)} ns per loop iteration)`;
    if (!probe.native && process.env[RUN_ENV] !== '1') {
      notOnThisHost(this, 'left to `npm run test:linux` (.ci/run runs it after npm test): guest kernel mode is emulated here, so each boot takes minutes');
    }
    const built = builtTestKernel();
    if ('missing' in built) missingPrerequisite(this, built.missing, INSTALL_HINT);
    kernel = built.kernel;
    const missingTool = tools();
    if (missingTool !== undefined) missingPrerequisite(this, missingTool, 'apt-get install e2fsprogs busybox-static');
    requireNetns(this);
    console.log(`      kernel ${kernel.vmlinux} (${kernel.sourceVersion}, fragment ${kernel.fragmentHash})${noUserSpace !== undefined ? `; ${noUserSpace}, so init dies and the kernel panics` : ''}`);
  });

  for (const vcpus of [1, 2]) {
    it(`with ${vcpus} vCPU${vcpus > 1 ? 's' : ''}: every driver probes its device and uses it, the ext4 root mounts r/w, init starts, no complaint, ends in reset; the image is clean`, async function () {
      this.timeout(BOOT_TIMEOUT_MS);
      retryUnderEmulation(this, 2);
      const cleanup = new Cleanup();
      try {
        const dir = cleanup.add(fs.mkdtempSync(path.join(os.tmpdir(), 'node-vmm-linux-drivers-')), (d) => fs.rmSync(d, { recursive: true, force: true }));
        const imagePath = makeRoot(dir);
        const { output, exit, rngBytes, dhcpLog, vsock, windows } = await boot(kernel, vcpus, imagePath, dir);
        const log = path.join(os.tmpdir(), `node-vmm-linux-drivers-${vcpus}cpu-${process.pid}.log`);
        fs.writeFileSync(log, output);
        const context = `\n(whole console in ${log}; its end:)\n${output.slice(-2000)}`;
        const has = (pattern: RegExp, what: string): void => assert.match(output, pattern, `${what}${context}`);
        // Each device registered from the command line and bound to its Linux driver.
        assert.equal(windows.length, 4, 'blk, net, rng and vsock');
        for (const { base, irq } of windows) {
          has(new RegExp(`virtio-mmio: Registering device virtio-mmio\\.\\d+ at 0x0*${base.toString(16)}-0x[0-9a-f]+, IRQ ${irq}\\.`), `virtio-mmio device at 0x${base.toString(16)} registered`);
        }
        for (const driver of VIRTIO_DRIVERS) {
          has(new RegExp(`virtio\\d+: bus: 'virtio': really_probe: bound device to driver ${driver}\\b`), `${driver} bound`);
        }
        // The legacy devices Linux drives on the way: the 8250 UART (its console) and the i8042.
        has(/serial8250: ttyS0 at I\/O 0x3f8 \(irq = 4, base_baud = 115200\) is a 16550A/, 'COM1 found as a 16550A');
        has(/i8042 i8042: bus: 'platform': really_probe: bound device to driver i8042/, 'the i8042 probed');
        // blk: its capacity, then the ext4 root on it, read-write.
        has(new RegExp(`virtio_blk virtio\\d+: \\[vda\\] ${SECTORS} 512-byte logical blocks`), 'virtio_blk capacity line');
        has(/EXT4-fs \(vda\): mounted filesystem [0-9a-f-]+ r\/w with ordered data mode/, 'ext4 root mounted read-write');
        has(/VFS: Mounted root \(ext4 filesystem\) on device 254:0\./, 'the root is the ext4 on vda');
        // net: a DHCP exchange through virtio_net (frames out and in), the interface configured.
        has(new RegExp(`IP-Config: Got DHCP answer from ${escape(HOST_IP)}, my address is ${escape(GUEST_IP)}`), `DHCP over virtio_net (udhcpd said: ${dhcpLog.trim()})`);
        has(/IP-Config: Complete:/, 'IP-Config completed');
        has(new RegExp(`device=eth0, hwaddr=${MAC}, ipaddr=${escape(GUEST_IP)}, mask=${escape(NETMASK)}`), 'eth0 configured, with our MAC');
        // rng: hw_random reads virtio-rng and seeds the CRNG (nothing else is trusted to).
        has(/random: crng init done/, 'CRNG seeded');
        assert.ok(rngBytes > 0, `hw_random read from virtio-rng (${rngBytes} bytes served)`);
        // vsock: the address family and its virtio transport, which answers a host's connection.
        has(/NET: Registered PF_VSOCK protocol family/, 'vsock address family');
        assert.equal(vsock.outcome, 'refused while running', `a host connection to guest port ${UNUSED_GUEST_PORT} is reset by the guest kernel`);
        // The back end took the connection and neither refused it nor reset it itself: the guest did.
        assert.deepEqual(vsock.counters, { connections: 1, refusedConnections: 0, resets: 0 }, 'the reset came from the guest');
        // init, and how it ended.
        has(/Run \/sbin\/init as init process/, 'init started');
        if (vcpus > 1) has(new RegExp(`smp: Brought up 1 node, ${vcpus} CPUs`), `all ${vcpus} CPUs up`);
        assert.deepEqual(complaints(output), [], `no virtio/ext4 complaint and no kernel warning${context}`);
        if (noUserSpace !== undefined) {
          has(/Kernel panic - not syncing: /, 'init could not run here, so the kernel panicked');
        } else {
          has(new RegExp(USER_SPACE_DONE), 'init ran to its end');
          has(/node-vmm init: hwrng gave 64 bytes/, '/dev/hwrng read from user space');
          has(/node-vmm init: ping ok/, 'the host answered a ping over virtio-net');
        }
        assert.equal(exit?.reason, 'reset', `the VM ended with a reset (panic=-1 / reboot -f), not ${exit?.reason} ${exit?.error?.message ?? ''}${context}`);
        // The image, after the VM and its devices are gone.
        const fsck = spawnSync('e2fsck', ['-f', '-n', imagePath], { encoding: 'utf8' });
        assert.equal(fsck.status, 0, `e2fsck -f -n: exit ${fsck.status}\n${fsck.stdout}${fsck.stderr}`);
        if (noUserSpace === undefined) {
          const written = execFileSync('debugfs', ['-R', 'cat /from-guest', imagePath], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
          assert.equal(written.trim(), 'written by the guest', "init's write reached the image");
        }
        fs.rmSync(log);
      } finally {
        await cleanup.run();
      }
    });
  }
});
