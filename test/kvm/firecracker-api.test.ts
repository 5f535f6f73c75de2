// Firecracker's REST API served by `node-vmm serve`, driven with node's http client as its clients
// drive Firecracker: the getting-started sequence boots the bundled guest (its ready line on the
// server's stdout); every bad request is a 400 with a fault_message; pause, snapshot, load into a
// second server, resume; the same VM from a config file; the server survives clients that go away,
// oversized bodies and concurrent requests.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { bundledGuestElfPath, BUNDLED_GUEST_PROMPT, BUNDLED_GUEST_READY_MARKER } from '../../lib/guest/bundled';
import { Cleanup } from '../helpers/cleanup';
import { apiRequest, ServeProcess } from '../helpers/firecracker';
import { requireKvm, retryUnderEmulation } from '../helpers/kvm';
import { makeSocketDir } from '../helpers/socket-dir';

const GUEST_MIB = 48;
const BOOT_ARGS = 'console=ttyS0 reboot=k panic=1 pci=off';
const DISK_BYTES = 1024 * 1024;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

function faultOf(response: { status: number; body: unknown }): string {
  assert.equal(response.status, 400, `expected 400, got ${response.status} ${JSON.stringify(response.body)}`);
  const fault = (response.body as { fault_message?: unknown } | undefined)?.fault_message;
  assert.equal(typeof fault, 'string', `a fault_message in ${JSON.stringify(response.body)}`);
  return fault as string;
}

describe('Firecracker API: node-vmm serve (real KVM, the bundled guest)', function () {
  this.timeout(180_000);
  const cleanup = new Cleanup();
  let dir: string;
  let disk: string;
  before(function () {
    requireKvm(this);
    if (!fs.existsSync(bundledGuestElfPath())) throw new Error(`the bundled guest ${bundledGuestElfPath()} is not built yet (npm run build:guest)`);
    dir = cleanup.add(makeSocketDir('firecracker-api-'), (d) => fs.rmSync(d, { recursive: true, force: true }));
    disk = path.join(dir, 'rootfs.img');
    const bytes = Buffer.alloc(DISK_BYTES);
    bytes.write('firecracker-disk-sector0', 0);
    fs.writeFileSync(disk, bytes);
  });
  after(() => cleanup.run());

  async function serve(local: Cleanup, name: string, extra: string[] = []): Promise<{ server: ServeProcess; sock: string }> {
    const sock = path.join(dir, `${name}.sock`);
    const server = local.add(new ServeProcess(['--api-sock', sock, ...extra]), (s) => s.stop());
    await server.listening(sock);
    return { server, sock };
  }

  /** docs/getting-started.md's requests, with the bundled guest as the kernel. */
  async function gettingStarted(sock: string): Promise<void> {
    const put = async (urlPath: string, body: unknown): Promise<void> => {
      const response = await apiRequest(sock, 'PUT', urlPath, body);
      assert.equal(response.status, 204, `PUT ${urlPath}: ${response.status} ${JSON.stringify(response.body)}`);
    };
    await put('/logger', { log_path: path.join(dir, `${path.basename(sock)}.log`), level: 'Debug', show_level: true, show_log_origin: true });
    await put('/boot-source', { kernel_image_path: bundledGuestElfPath(), boot_args: BOOT_ARGS });
    await put('/drives/rootfs', { drive_id: 'rootfs', path_on_host: disk, is_root_device: true, is_read_only: true });
    await put('/machine-config', { vcpu_count: 1, mem_size_mib: GUEST_MIB });
    await put('/actions', { action_type: 'InstanceStart' });
  }

  it("boots the bundled guest with getting-started's sequence; GET / and /vm/config report it", async function () {
    retryUnderEmulation(this, 2);
    const local = new Cleanup();
    try {
      const { server, sock } = await serve(local, 'boot', ['--id', 'vm-one']);
      assert.deepEqual((await apiRequest(sock, 'GET', '/')).body, { id: 'vm-one', state: 'Not started', vmm_version: (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version, app_name: 'node-vmm' });
      assert.deepEqual((await apiRequest(sock, 'GET', '/version')).body, { firecracker_version: '1.17.0-dev' });
      await gettingStarted(sock);
      await server.waitFor(new RegExp(BUNDLED_GUEST_READY_MARKER));
      await server.waitFor(new RegExp(BUNDLED_GUEST_PROMPT));
      assert.equal(((await apiRequest(sock, 'GET', '/')).body as { state: string }).state, 'Running');
      const config = (await apiRequest(sock, 'GET', '/vm/config')).body as Record<string, unknown>;
      assert.deepEqual(config['machine-config'], { vcpu_count: 1, mem_size_mib: GUEST_MIB, smt: false, track_dirty_pages: false, huge_pages: 'None' });
      assert.equal((config.drives as { drive_id: string }[])[0]?.drive_id, 'rootfs');
      // The guest's disk is the drive: its sector 0 reads back through the console.
      const at = server.stdout.length;
      server.child.stdin.write('blk 0\n');
      await server.waitFor(new RegExp(Buffer.from('firecracker-disk').toString('hex')), at);
      const log = fs.readFileSync(path.join(dir, 'boot.sock.log'), 'utf8');
      assert.match(log, /\[vm-one\] \[Info\] \[vmm::builder\] started the microVM/);
      // PATCH /drives/{id} with path_on_host swaps the running disk's file: the next read is the new file's.
      const swapped = path.join(dir, 'swapped.img');
      const swappedBytes = Buffer.alloc(DISK_BYTES);
      swappedBytes.write('swapped-disk-sector0', 0);
      fs.writeFileSync(swapped, swappedBytes);
      assert.match(faultOf(await apiRequest(sock, 'PATCH', '/drives/rootfs', { drive_id: 'rootfs', path_on_host: path.join(dir, 'no-such.img') })), /path_on_host: .*cannot open/);
      const patched = await apiRequest(sock, 'PATCH', '/drives/rootfs', { drive_id: 'rootfs', path_on_host: swapped });
      assert.equal(patched.status, 204, JSON.stringify(patched.body));
      const afterSwap = server.stdout.length;
      server.child.stdin.write('blk 0\n');
      await server.waitFor(new RegExp(Buffer.from('swapped-disk').toString('hex')), afterSwap);
      assert.equal(((await apiRequest(sock, 'GET', '/vm/config')).body as { drives: { path_on_host: string }[] }).drives[0]?.path_on_host, swapped);
      // SendCtrlAltDel: through the i8042 the guest reboots, and serve ends with it (exit code 0), as Firecracker does.
      const sent = await apiRequest(sock, 'PUT', '/actions', { action_type: 'SendCtrlAltDel' });
      assert.equal(sent.status, 204, JSON.stringify(sent.body));
      await server.waitFor(/node-vmm-guest: ctrl-alt-del, rebooting/);
      assert.equal(await server.closed, 0, server.stderr);
    } finally {
      await local.run();
    }
  });

  it('answers every bad request with 400 and a fault_message, before and after InstanceStart', async function () {
    retryUnderEmulation(this, 2);
    const local = new Cleanup();
    try {
      const { server, sock } = await serve(local, 'errors');
      const cases: [string, string, unknown, RegExp][] = [
        ['PUT', '/machine-config', '{"vcpu_count": 1,', /not valid JSON/],
        ['PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 64, cpus: 2 }, /cpus: unknown field/],
        ['PUT', '/machine-config', { vcpu_count: 33, mem_size_mib: 64 }, /vcpu_count: must be an integer from 1 to 32/],
        ['PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 64, smt: true }, /smt: is not supported/],
        ['PUT', '/drives/a', { drive_id: 'b', path_on_host: disk, is_root_device: false }, /does not match/],
        ['PUT', '/drives/a', { drive_id: 'a', path_on_host: disk, is_root_device: false, rate_limiter: { ops: { size: 10, refill_time: 100 } } }, /rate_limiter: is not supported/],
        ['PUT', '/actions', { action_type: 'InstanceStart' }, /no kernel/],
        ['PUT', '/actions', { action_type: 'Reboot' }, /action_type: must be one of/],
        ['PUT', '/boot-source', { kernel_image_path: path.join(dir, 'missing-vmlinux') }, /kernel_image_path: cannot read .*no such file/],
        ['PUT', '/boot-source', { kernel_image_path: disk }, /kernel_image_path: .* cannot be booted/],
        ['PATCH', '/vm', { state: 'Paused' }, /not supported before starting/],
        ['PUT', '/snapshot/create', { snapshot_path: '/s', mem_file_path: '/m' }, /not supported before starting/],
        ['PATCH', '/drives/a', { drive_id: 'a' }, /not supported before starting/],
        ['PUT', '/actions', { action_type: 'SendCtrlAltDel' }, /not supported before starting/],
        ['GET', '/nowhere', undefined, /Invalid request method and\/or path: GET \/nowhere/],
        ['DELETE', '/machine-config', undefined, /Invalid request method and\/or path: DELETE/],
        ['PUT', '/logger', 'x'.repeat(51201), /larger than the limit of 51200/],
      ];
      for (const [method, urlPath, body, pattern] of cases) assert.match(faultOf(await apiRequest(sock, method, urlPath, body)), pattern, `${method} ${urlPath}`);
      // A body of many MiB is refused without being held, and the server goes on.
      assert.match(faultOf(await apiRequest(sock, 'PUT', '/drives/x', 'y'.repeat(8 * 1024 * 1024))), /larger than the limit/);
      // A client that sends half a request and goes away.
      await new Promise<void>((resolve, reject) => {
        const socket = net.connect(sock, () => {
          socket.write('PUT /machine-config HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"vcpu');
          setTimeout(() => {
            socket.destroy();
            resolve();
          }, 50);
        });
        socket.on('error', reject);
      });
      // Concurrent requests are served one at a time, all answered.
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => apiRequest(sock, 'PUT', '/machine-config', { vcpu_count: 1 + (i % 2), mem_size_mib: GUEST_MIB })));
      assert.deepEqual(answers.map((a) => a.status), Array(20).fill(204));
      await gettingStarted(sock);
      await server.waitFor(new RegExp(BUNDLED_GUEST_PROMPT));
      for (const [method, urlPath, body] of [
        ['PUT', '/boot-source', { kernel_image_path: bundledGuestElfPath() }],
        ['PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 64 }],
        ['PUT', '/drives/b', { drive_id: 'b', path_on_host: disk, is_root_device: false }],
        ['PUT', '/actions', { action_type: 'InstanceStart' }],
        ['PUT', '/snapshot/load', { snapshot_path: '/s', mem_backend: { backend_type: 'File', backend_path: '/m' } }],
      ] as const) {
        assert.match(faultOf(await apiRequest(sock, method, urlPath, body)), /not supported after starting/, `${method} ${urlPath}`);
      }
      assert.match(faultOf(await apiRequest(sock, 'PUT', '/snapshot/create', { snapshot_path: path.join(dir, 's'), mem_file_path: path.join(dir, 'm') })), /pause it first/);
      assert.equal((await apiRequest(sock, 'GET', '/')).status, 200);
    } finally {
      await local.run();
    }
  });

  it('pauses, snapshots, loads into a second server and resumes: the guest answers there', async function () {
    retryUnderEmulation(this, 2);
    const local = new Cleanup();
    try {
      const first = await serve(local, 'source');
      await gettingStarted(first.sock);
      await first.server.waitFor(new RegExp(BUNDLED_GUEST_PROMPT));
      first.server.child.stdin.write('note before-the-snapshot\n');
      await first.server.waitFor(/note[^]*node-vmm> [^]*$/);
      assert.equal((await apiRequest(first.sock, 'PATCH', '/vm', { state: 'Paused' })).status, 204);
      assert.equal(((await apiRequest(first.sock, 'GET', '/')).body as { state: string }).state, 'Paused');
      const files = { snapshot_path: path.join(dir, 'vm.state'), mem_file_path: path.join(dir, 'vm.mem') };
      assert.equal((await apiRequest(first.sock, 'PUT', '/snapshot/create', { ...files, snapshot_type: 'Full' })).status, 204);
      await first.server.stop();
      const second = await serve(local, 'target');
      const load = await apiRequest(second.sock, 'PUT', '/snapshot/load', { snapshot_path: files.snapshot_path, mem_backend: { backend_type: 'File', backend_path: files.mem_file_path }, resume_vm: false });
      assert.equal(load.status, 204, JSON.stringify(load.body));
      assert.equal(((await apiRequest(second.sock, 'GET', '/')).body as { state: string }).state, 'Paused');
      assert.equal((await apiRequest(second.sock, 'PATCH', '/vm', { state: 'Resumed' })).status, 204);
      assert.equal(((await apiRequest(second.sock, 'GET', '/')).body as { state: string }).state, 'Running');
      second.server.child.stdin.write('note\n');
      await second.server.waitFor(/before-the-snapshot/);
    } finally {
      await local.run();
    }
  });

  it('counts: blk bytes move after a known guest read, in the metrics file (deltas) and Prometheus (totals)', async function () {
    retryUnderEmulation(this, 2);
    const local = new Cleanup();
    try {
      const port = await freePort();
      const metricsPath = path.join(dir, 'metrics.json');
      const { server, sock } = await serve(local, 'metrics', ['--metrics-port', String(port)]);
      assert.equal((await apiRequest(sock, 'PUT', '/metrics', { metrics_path: metricsPath, emit_id: true })).status, 204);
      assert.match(faultOf(await apiRequest(sock, 'PUT', '/metrics', { metrics_path: metricsPath })), /Reinitialization/);
      await gettingStarted(sock);
      let at = await server.waitFor(new RegExp(BUNDLED_GUEST_PROMPT));
      const flush = async (): Promise<Record<string, Record<string, number>>> => {
        assert.equal((await apiRequest(sock, 'PUT', '/actions', { action_type: 'FlushMetrics' })).status, 204);
        const lines = fs.readFileSync(metricsPath, 'utf8').trim().split('\n');
        return JSON.parse(lines[lines.length - 1] as string) as Record<string, Record<string, number>>;
      };
      await flush(); // what booting did
      for (const sector of [1, 2]) {
        server.child.stdin.write(`blk ${sector}\n`);
        at = await server.waitFor(new RegExp(BUNDLED_GUEST_PROMPT), at);
      }
      const line = await flush();
      assert.equal(line.id as unknown, 'anonymous-instance');
      assert.equal(line.block_rootfs?.read_count, 2, JSON.stringify(line));
      assert.equal(line.block?.read_bytes, 2 * 512, JSON.stringify(line));
      assert.equal(line.block?.write_count, 0);
      assert.ok((line.vcpu?.exit_io_out ?? 0) > 0, 'the console output was port writes');
      assert.ok((line.vcpu?.exit_mmio_write ?? 0) > 0, 'the virtio notifies and registers were MMIO writes');
      const again = await flush();
      assert.equal(again.block_rootfs?.read_count, 0, 'a flush holds what happened since the previous one');
      const text = await new Promise<string>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/metrics' }, (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => (body += chunk.toString()));
          response.on('end', () => resolve(body));
        }).on('error', reject);
      });
      assert.match(text, /# TYPE node_vmm_block_read_count_total counter/);
      const reads = /^node_vmm_block_device_read_count_total\{instance="anonymous-instance",device="rootfs"\} (\d+)$/m.exec(text);
      assert.equal(reads?.[1], '2', `cumulative reads in:\n${text}`);
      assert.match(text, /^node_vmm_vcpu_exits_total\{instance="anonymous-instance",vcpu="0",reason="MMIO"\} \d+$/m);
      assert.match(text, /^node_vmm_vcpu_device_accesses_total\{instance="anonymous-instance",vcpu="0",device="rootfs"\} [1-9]\d*$/m, 'the disk\'s MMIO accesses');
      assert.match(text, /^node_vmm_uart_write_count_total\{instance="anonymous-instance"\} [1-9]\d*$/m, 'the console bytes');
      const inRun = /^node_vmm_vcpu_kvm_run_seconds_total\{instance="anonymous-instance",vcpu="0"\} ([\d.e+-]+)$/m.exec(text);
      assert.ok(inRun !== null && Number(inRun[1]) > 0, '--metrics-port times KVM_RUN');
    } finally {
      await local.run();
    }
  });

  it('boots the same guest from a config file equal to the sequence (serve --no-api --config-file)', async function () {
    retryUnderEmulation(this, 2);
    const local = new Cleanup();
    try {
      const file = path.join(dir, 'vm.json');
      fs.writeFileSync(file, JSON.stringify({
        'boot-source': { kernel_image_path: bundledGuestElfPath(), boot_args: BOOT_ARGS, initrd_path: null },
        drives: [{ drive_id: 'rootfs', path_on_host: disk, is_root_device: true, is_read_only: true }],
        'machine-config': { vcpu_count: 1, mem_size_mib: GUEST_MIB },
        'network-interfaces': [],
        balloon: null,
      }));
      const server = local.add(new ServeProcess(['--no-api', '--config-file', file]), (s) => s.stop());
      await server.waitFor(new RegExp(BUNDLED_GUEST_READY_MARKER));
      await server.waitFor(new RegExp(BUNDLED_GUEST_PROMPT));
      server.child.stdin.write('exit 4\n');
      assert.equal(await server.closed, 4, server.stderr);
    } finally {
      await local.run();
    }
  });
});
