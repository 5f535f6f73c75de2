// Firecracker's config file read into createVm() options: field names and defaults as its swagger
// spec has them, `root=` as Firecracker adds it, unsupported fields refused with their JSON path unless
// null or default, and `node-vmm run --config-file` (no KVM needed).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseFirecrackerConfig, readFirecrackerConfigFile } from '../../lib/api/firecracker/config-file';
import { FirecrackerConfigError } from '../../lib/api/firecracker/errors';
import { FIRECRACKER_DEFAULT_BOOT_ARGS } from '../../lib/api/firecracker/vm-spec';
import { VmConfigError } from '../../lib/api/errors';
import { parseRunArgs, UsageError } from '../../lib/cli/run';

const BOOT = { kernel_image_path: '/k/vmlinux', boot_args: 'console=ttyS0 reboot=k panic=1 pci=off' };

function refuses(document: unknown, field: string, why?: RegExp): void {
  assert.throws(
    () => parseFirecrackerConfig(document),
    (error: unknown) => {
      assert.ok(error instanceof FirecrackerConfigError, `expected FirecrackerConfigError, got ${String(error)}`);
      assert.ok(error instanceof VmConfigError);
      assert.equal(error.field, field);
      if (why !== undefined) assert.match(error.message, why);
      return true;
    },
  );
}

describe('Firecracker config file', () => {
  it("maps getting-started's config onto createVm options, the root drive first with root=/dev/vda", () => {
    const spec = parseFirecrackerConfig({
      'boot-source': { ...BOOT, initrd_path: null },
      drives: [
        { drive_id: 'scratch', path_on_host: '/d/scratch.ext4', is_root_device: false, is_read_only: false },
        { drive_id: 'rootfs', path_on_host: '/d/rootfs.ext4', is_root_device: true, is_read_only: false, cache_type: 'Unsafe', io_engine: 'Sync', rate_limiter: null },
      ],
      'machine-config': { vcpu_count: 2, mem_size_mib: 1024, smt: false, track_dirty_pages: false, huge_pages: 'None' },
      'network-interfaces': [{ iface_id: 'net1', guest_mac: '06:00:AC:10:00:02', host_dev_name: 'tap0' }],
      vsock: { guest_cid: 3, uds_path: '/tmp/v.sock' },
      entropy: {},
      balloon: null,
      'mmds-config': null,
      'cpu-config': null,
    });
    assert.deepEqual(spec.toVmConfig(), {
      kernel: '/k/vmlinux',
      cmdline: 'console=ttyS0 reboot=k panic=1 pci=off root=/dev/vda rw',
      memoryMiB: 1024,
      vcpus: 2,
      disks: [
        { path: '/d/rootfs.ext4', readOnly: false, id: 'rootfs' },
        { path: '/d/scratch.ext4', readOnly: false, id: 'scratch' },
      ],
      networks: [{ tap: 'tap0', id: 'net1', mac: '06:00:AC:10:00:02' }],
      vsock: { cid: 3, socketPath: '/tmp/v.sock' },
      rng: true,
    });
  });

  it("uses Firecracker's defaults: its boot args, 1 vCPU, 128 MiB; PARTUUID and ro for a read-only root", () => {
    const config = parseFirecrackerConfig({ 'boot-source': { kernel_image_path: '/k' }, drives: [{ drive_id: 'r', path_on_host: '/r', is_root_device: true, is_read_only: true, partuuid: '0eaa91a0-01' }] }).toVmConfig();
    assert.equal(config.cmdline, `${FIRECRACKER_DEFAULT_BOOT_ARGS} root=PARTUUID=0eaa91a0-01 ro`);
    assert.equal(config.vcpus, 1);
    assert.equal(config.memoryMiB, 128);
    assert.equal(config.rng, false);
  });

  it('refuses malformed sections, naming the JSON path', () => {
    refuses({}, 'boot-source', /required/);
    refuses({ 'boot-source': {} }, 'boot-source.kernel_image_path', /required/);
    refuses({ 'boot-source': { kernel_image_path: 7 } }, 'boot-source.kernel_image_path', /string/);
    refuses({ 'boot-source': BOOT, 'boot-sauce': {} }, 'boot-sauce', /unknown field/);
    refuses({ 'boot-source': { ...BOOT, kernel_args: 'x' } }, 'boot-source.kernel_args', /unknown field/);
    refuses({ 'boot-source': BOOT, 'machine-config': { vcpu_count: 0, mem_size_mib: 128 } }, 'machine-config.vcpu_count', /1 to 32/);
    refuses({ 'boot-source': BOOT, 'machine-config': { vcpu_count: 33, mem_size_mib: 128 } }, 'machine-config.vcpu_count', /1 to 32/);
    refuses({ 'boot-source': BOOT, 'machine-config': { vcpu_count: 1 } }, 'machine-config.mem_size_mib', /required/);
    refuses({ 'boot-source': BOOT, drives: {} }, 'drives', /array/);
    refuses({ 'boot-source': BOOT, drives: [{ drive_id: 'a', path_on_host: '/a' }] }, 'drives[0].is_root_device', /required/);
    refuses({ 'boot-source': BOOT, drives: [{ drive_id: 'a b', path_on_host: '/a', is_root_device: false }] }, 'drives[0].drive_id');
    refuses({ 'boot-source': BOOT, drives: [{ drive_id: 'a', path_on_host: '/a', is_root_device: false, cache_type: 'None' }] }, 'drives[0].cache_type', /"Unsafe", "Writeback"/);
    const drive = (id: string, root: boolean, file = `/${id}`): unknown => ({ drive_id: id, path_on_host: file, is_root_device: root });
    refuses({ 'boot-source': BOOT, drives: [drive('a', true), drive('b', true)] }, 'drives[1]', /root block device already exists/);
    refuses({ 'boot-source': BOOT, drives: [drive('a', false), drive('a', false, '/other')] }, 'drives[1].drive_id', /twice/);
    refuses({ 'boot-source': BOOT, drives: [drive('a', false), drive('b', false, '/a')] }, 'drives[1].path_on_host', /already drive a/);
    refuses({ 'boot-source': BOOT, 'network-interfaces': [{ iface_id: 'n', host_dev_name: 'tap0', guest_mac: 'zz' }] }, 'network-interfaces[0].guest_mac', /MAC/);
    refuses({ 'boot-source': BOOT, vsock: { guest_cid: 2, uds_path: '/v' } }, 'vsock.guest_cid', /from 3/);
    refuses({ 'boot-source': BOOT, logger: { level: 'Loud' } }, 'logger.level', /"Error"/);
    refuses({ 'boot-source': BOOT, metrics: {} }, 'metrics.metrics_path', /required/);
  });

  it('refuses what node-vmm lacks when set, with why, and accepts it when null or default', () => {
    refuses({ 'boot-source': BOOT, balloon: { amount_mib: 1, deflate_on_oom: false } }, 'balloon', /virtio-balloon/);
    refuses({ 'boot-source': BOOT, 'mmds-config': { network_interfaces: ['n'] } }, 'mmds-config', /metadata/);
    refuses({ 'boot-source': BOOT, 'cpu-config': { cpuid_modifiers: [] } }, 'cpu-config', /CPU templates/);
    refuses({ 'boot-source': BOOT, 'machine-config': { vcpu_count: 1, mem_size_mib: 64, smt: true } }, 'machine-config.smt', /SMT/);
    refuses({ 'boot-source': BOOT, 'machine-config': { vcpu_count: 1, mem_size_mib: 64, cpu_template: 'T2' } }, 'machine-config.cpu_template', /CPU templates/);
    refuses({ 'boot-source': BOOT, 'machine-config': { vcpu_count: 1, mem_size_mib: 64, huge_pages: '2M' } }, 'machine-config.huge_pages', /4 KiB/);
    const limited = { bandwidth: { size: 1000, refill_time: 100 } };
    refuses({ 'boot-source': BOOT, drives: [{ drive_id: 'a', path_on_host: '/a', is_root_device: false, rate_limiter: limited }] }, 'drives[0].rate_limiter', /rate limiter/);
    refuses({ 'boot-source': BOOT, drives: [{ drive_id: 'a', path_on_host: '/a', is_root_device: false, io_engine: 'Async' }] }, 'drives[0].io_engine', /Sync/);
    refuses({ 'boot-source': BOOT, drives: [{ drive_id: 'a', is_root_device: false, socket: '/vhost.sock' }] }, 'drives[0].socket', /vhost-user/);
    refuses({ 'boot-source': BOOT, 'network-interfaces': [{ iface_id: 'n', host_dev_name: 't', tx_rate_limiter: limited }] }, 'network-interfaces[0].tx_rate_limiter');
    refuses({ 'boot-source': BOOT, entropy: { rate_limiter: { ops: { size: 5, refill_time: 1 } } } }, 'entropy.rate_limiter');
    const unlimited = { bandwidth: { size: 0, refill_time: 0 }, ops: null };
    const spec = parseFirecrackerConfig({
      'boot-source': BOOT,
      'machine-config': { vcpu_count: 1, mem_size_mib: 64, smt: false, cpu_template: 'None', huge_pages: 'None', track_dirty_pages: true },
      drives: [{ drive_id: 'a', path_on_host: '/a', is_root_device: false, rate_limiter: unlimited, io_engine: 'Sync', socket: null }],
      'network-interfaces': [{ iface_id: 'n', host_dev_name: 't', rx_rate_limiter: {}, tx_rate_limiter: null, mtu: null }],
      entropy: { rate_limiter: null },
      balloon: null,
      'cpu-config': null,
      'mmds-config': null,
      pmem: [],
      serial: null,
    });
    assert.equal(spec.drives.length, 1);
    assert.equal(spec.toVmConfig().rng, true);
  });

  it('GET /vm/config shape: every section by its Firecracker name', () => {
    const json = parseFirecrackerConfig({ 'boot-source': BOOT }).toJson();
    assert.deepEqual(json['boot-source'], BOOT);
    assert.deepEqual(json['machine-config'], { vcpu_count: 1, mem_size_mib: 128, smt: false, track_dirty_pages: false, huge_pages: 'None' });
    assert.deepEqual(json.drives, []);
  });

  describe('files and node-vmm run --config-file', () => {
    let dir: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-vmm-fc-config-'));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('reads a file; a missing file or bad JSON is a typed error naming it', () => {
      const file = path.join(dir, 'vm.json');
      fs.writeFileSync(file, JSON.stringify({ 'boot-source': BOOT, 'machine-config': { vcpu_count: 1, mem_size_mib: 32 } }));
      assert.deepEqual(parseRunArgs(['--config-file', file]), { help: false, config: { kernel: '/k/vmlinux', cmdline: BOOT.boot_args, memoryMiB: 32, vcpus: 1, disks: [], networks: [], rng: false } });
      assert.throws(() => readFirecrackerConfigFile(path.join(dir, 'missing.json')), (e: unknown) => e instanceof VmConfigError && /no such file/.test(e.message));
      fs.writeFileSync(file, '{"boot-source": ');
      assert.throws(() => readFirecrackerConfigFile(file), (e: unknown) => e instanceof FirecrackerConfigError && /not valid JSON/.test(e.message));
      assert.throws(() => parseRunArgs(['--config-file', file, '--mem', '64']), (e: unknown) => e instanceof UsageError && /--mem/.test(e.message));
    });
  });
});
