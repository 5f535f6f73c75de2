import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { createLinuxMachine } from '../../lib/boot/linux-machine';
import { BUNDLED_GUEST_PROMPT, BUNDLED_GUEST_READY_MARKER, BUNDLED_GUEST_SELFTEST_CMDLINE, bundledGuestPath } from '../../lib/guest/bundled';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Device } from '../../lib/devices/device';
import { VirtioBlkDevice } from '../../lib/devices/virtio/blk/device';
import { VirtioNetDevice } from '../../lib/devices/virtio/net/device';
import { VirtioRngDevice } from '../../lib/devices/virtio/rng/device';
import type { VirtioMmioDevice } from '../../lib/devices/virtio/transport/mmio-device';
import { VirtioVsockDevice } from '../../lib/devices/virtio/vsock/device';
import * as net from 'node:net';
import { NetNamespace, requireNetns } from '../helpers/netns';
import { watchConsole } from '../helpers/console-watch';
import { requireKvm, retryUnderEmulation } from '../helpers/kvm';
import { parseTap } from '../helpers/tap';
import { Cleanup } from '../helpers/cleanup';
import { makeSocketDir } from '../helpers/socket-dir';

const MiB = 1024 * 1024;
const MEMORY_MIB = 64;
const STALL_MS = 30_000;
const RETRIES_UNDER_EMULATION = 2;
const ECHO_PORT = 5000;
const FOUR_DEVICE_TESTS = [
  'virtio-rng: 32 random bytes, not constant',
  'virtio-blk: sector 0 read',
  'virtio-net: ARP request answered by nodevmm.peer',
  'virtio-vsock: 600 bytes echoed by host port nodevmm.vsock',
];

function boot(cmdline: string, vcpus = 1, devices: Device[] = []) {
  return createLinuxMachine({ kernel: fs.readFileSync(bundledGuestPath()), cmdline, memorySize: MEMORY_MIB * MiB, vcpus, devices });
}

const registerNotifications = (devices: VirtioMmioDevice[]): number => devices.reduce((sum, device) => sum + device.transport.registerNotifications, 0);

describe('the bundled guest (real KVM)', function () {
  before(function () {
    requireKvm(this);
  });

  for (const vcpus of [1, 2]) {
    it(`passes its TAP self-test with ${vcpus} vCPU${vcpus > 1 ? 's' : ''}, every line ok, and exits 0`, async function () {
      this.timeout(120_000);
      retryUnderEmulation(this, RETRIES_UNDER_EMULATION);
      const { machine, console: serial } = boot(`${BUNDLED_GUEST_SELFTEST_CMDLINE} nodevmm.cpus=${vcpus} nodevmm.mem=${MEMORY_MIB}`, vcpus);
      try {
        await machine.start();
        const { output, exit } = await watchConsole(machine, serial, { stallMs: STALL_MS });
        assert.ok(output.startsWith(`${BUNDLED_GUEST_READY_MARKER}\r\n`), 'the ready marker comes first');
        const tap = parseTap(output);
        assert.ok(tap.planned !== undefined && tap.planned > 0, 'a plan');
        assert.equal(tap.tests.length, tap.planned, 'as many test lines as planned');
        tap.tests.forEach((test, i) => assert.ok(test.ok && test.number === i + 1, `test ${i + 1}: ${test.description}`));
        assert.match(output, new RegExp(`# cpus ${vcpus}, memory \\d+ MiB`));
        assert.equal(exit?.reason, 'exited', exit?.error?.message);
        assert.equal(exit?.status, 0);
      } finally {
        await machine.dispose();
      }
    });
  }

  it('runs a shell that answers typed commands, then reboots (reason reset)', async function () {
    this.timeout(120_000);
    retryUnderEmulation(this, RETRIES_UNDER_EMULATION);
    const { machine, console: serial } = boot('', 1);
    try {
      await machine.start();
      const prompt = await watchConsole(machine, serial, { until: new RegExp(BUNDLED_GUEST_PROMPT), stallMs: STALL_MS });
      assert.equal(prompt.exit, undefined);
      const echoed = watchConsole(machine, serial, { until: /\r\nhello, node-vmm\r\nnode-vmm> $/, stallMs: STALL_MS });
      serial.write('echo hello, node-vmm\r');
      assert.equal((await echoed).exit, undefined, 'the shell answered');
      const cpus = watchConsole(machine, serial, { until: /1 online of 1\r\n/, stallMs: STALL_MS });
      serial.write('cpus\r');
      assert.equal((await cpus).exit, undefined);
      const rebooted = watchConsole(machine, serial, { stallMs: STALL_MS });
      serial.write('reboot\r');
      assert.equal((await rebooted).exit?.reason, 'reset');
    } finally {
      await machine.dispose();
    }
  });

  it('drives virtio-rng and virtio-blk from its ring-3 drivers in the self-test', async function () {
    this.timeout(120_000);
    retryUnderEmulation(this, RETRIES_UNDER_EMULATION);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bundled-guest-blk-'));
    const diskPath = path.join(dir, 'disk.img');
    const signature = Buffer.from('node-vmm disk #1');
    fs.writeFileSync(diskPath, Buffer.concat([signature, Buffer.alloc(64 * 1024 - signature.length)]));
    const rng = new VirtioRngDevice();
    const blk = new VirtioBlkDevice({ path: diskPath });
    const { machine, console: serial } = boot(BUNDLED_GUEST_SELFTEST_CMDLINE, 1, [rng, blk]);
    try {
      await machine.start();
      const { output, exit } = await watchConsole(machine, serial, { stallMs: STALL_MS });
      const tap = parseTap(output);
      const names = tap.tests.map((t) => t.description);
      assert.ok(names.includes('virtio-rng: 32 random bytes, not constant') && names.includes('virtio-blk: sector 0 read'), names.join('; '));
      tap.tests.forEach((test) => assert.ok(test.ok, test.description));
      assert.equal(tap.tests.length, tap.planned);
      assert.ok(output.includes(`# virtio-blk sector 0: ${signature.toString('hex')}`), 'the guest read the host file');
      assert.equal(exit?.reason, 'exited');
      assert.equal(exit?.status, 0);
      assert.equal(registerNotifications([rng, blk]), 0, 'notifications through ioeventfds');
      assert.ok((blk.counters?.get('readBytes') ?? 0) >= 512, 'the disk counted the read');
    } finally {
      await machine.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exchanges ARP with a network namespace through virtio-net and a TAP device', async function () {
    this.timeout(120_000);
    requireNetns(this);
    retryUnderEmulation(this, RETRIES_UNDER_EMULATION);
    const net = new VirtioNetDevice({ tap: `nvmg${process.pid % 100000}`, mac: '52:54:00:12:34:56' });
    const namespace = new NetNamespace(`node-vmm-guest-${process.pid}`);
    try {
      namespace.adopt(net.tap.name, '10.77.1.1/24');
      const { machine, console: serial } = boot(`${BUNDLED_GUEST_SELFTEST_CMDLINE} nodevmm.ip=10.77.1.2 nodevmm.peer=10.77.1.1`, 1, [net]);
      try {
        await machine.start();
        const { output, exit } = await watchConsole(machine, serial, { stallMs: STALL_MS });
        const results = parseTap(output);
        assert.ok(results.tests.some((t) => t.ok && t.description === 'virtio-net: ARP request answered by nodevmm.peer'), output);
        assert.equal(exit?.status, 0, output);
      } finally {
        await machine.dispose();
      }
    } finally {
      net.close();
      namespace.delete();
    }
  });

  /** The self-test with rng, blk, net (ARP through a namespace) and vsock (an echo server), at `depth`. */
  async function fourDeviceSelftest(cleanup: Cleanup, depth: number): Promise<{ socketPath: string; echoed: Buffer[] }> {
    const dir = cleanup.add(makeSocketDir('bundled-guest-four-'), (d) => fs.rmSync(d, { recursive: true, force: true }));
    const diskPath = path.join(dir, 'disk.img');
    fs.writeFileSync(diskPath, Buffer.alloc(64 * 1024, 0x5a));
    const socketPath = path.join(dir, 'vsock.sock');
    const echoed: Buffer[] = [];
    // The host end a guest reaches by connecting to host port 5000 (Firecracker's <path>_<port>).
    const echoServer = cleanup.add(
      net.createServer((socket) =>
        socket.on('data', (data) => {
          echoed.push(data);
          socket.write(data);
        }),
      ),
      (server) => server.close(),
    );
    await new Promise<void>((resolve, reject) => echoServer.once('error', reject).listen(`${socketPath}_${ECHO_PORT}`, resolve));
    const netDevice = new VirtioNetDevice({ tap: `nvmf${process.pid % 100000}`, mac: '52:54:00:12:34:57' });
    const namespace = cleanup.add(new NetNamespace(`node-vmm-four-${process.pid}`), (n) => n.delete());
    namespace.adopt(netDevice.tap.name, '10.77.2.1/24');
    const devices = [new VirtioRngDevice(), new VirtioBlkDevice({ path: diskPath }), netDevice, new VirtioVsockDevice({ cid: 3, socketPath })];
    const selftest = boot(`${BUNDLED_GUEST_SELFTEST_CMDLINE} nodevmm.depth=${depth} nodevmm.ip=10.77.2.2 nodevmm.peer=10.77.2.1 nodevmm.vsock=${ECHO_PORT}`, 1, devices);
    try {
      await selftest.machine.start();
      const { output, exit } = await watchConsole(selftest.machine, selftest.console, { stallMs: STALL_MS });
      const tap = parseTap(output);
      const names = tap.tests.map((t) => t.description);
      for (const expected of FOUR_DEVICE_TESTS) assert.ok(names.includes(expected), `${expected} in ${names.join('; ')}`);
      tap.tests.forEach((test) => assert.ok(test.ok, test.description));
      assert.equal(tap.tests.length, tap.planned);
      assert.ok(output.includes(`# virtio: up to ${depth} chains in flight per queue`), output);
      assert.equal(exit?.status, 0, output);
      assert.equal(Buffer.concat(echoed).length, 600, 'the host socket saw the 600 bytes');
      assert.equal(registerNotifications(devices), 0, 'notifications through ioeventfds');
    } finally {
      await selftest.machine.dispose();
    }
    return { socketPath, echoed };
  }

  it('passes the four-device self-test with nodevmm.depth=32: 32 chains in flight per queue', async function () {
    this.timeout(120_000);
    requireNetns(this);
    retryUnderEmulation(this, RETRIES_UNDER_EMULATION);
    const cleanup = new Cleanup();
    try {
      await fourDeviceSelftest(cleanup, 32);
    } finally {
      await cleanup.run();
    }
  });

  it('reports all four virtio devices ok in one self-test, and its shell echoes through vsock', async function () {
    this.timeout(120_000);
    requireNetns(this);
    retryUnderEmulation(this, RETRIES_UNDER_EMULATION);
    const cleanup = new Cleanup();
    try {
      const { socketPath, echoed } = await fourDeviceSelftest(cleanup, 1);
      // The machine's end closed the vsock back end's own listening socket.
      assert.equal(fs.existsSync(socketPath), false, 'the vsock socket is gone with its machine');

      echoed.length = 0;
      const shellVsock = new VirtioVsockDevice({ cid: 3, socketPath });
      const shell = boot('', 1, [shellVsock]);
      try {
        await shell.machine.start();
        await watchConsole(shell.machine, shell.console, { until: new RegExp(BUNDLED_GUEST_PROMPT), stallMs: STALL_MS });
        const answered = watchConsole(shell.machine, shell.console, { until: /echoed: hello over vsock\r\n/, stallMs: STALL_MS });
        shell.console.write(`vsock ${ECHO_PORT} hello over vsock\r`);
        assert.equal((await answered).exit, undefined, 'the shell printed the echo');
        assert.equal(Buffer.concat(echoed).toString(), 'hello over vsock');
        const refused = watchConsole(shell.machine, shell.console, { until: /connection refused\r\n/, stallMs: STALL_MS });
        shell.console.write(`vsock ${ECHO_PORT + 1} nobody listens\r`);
        assert.equal((await refused).exit, undefined, 'a port without a listener is refused');
      } finally {
        await shell.machine.dispose();
      }
    } finally {
      await cleanup.run();
    }
  });
});
