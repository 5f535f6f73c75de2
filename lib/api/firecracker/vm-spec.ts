// What a Firecracker client has configured for one VM (before InstanceStart): the sections in
// Firecracker's own shapes, the rules between them (one root drive, ids and host devices unique), how
// they become createVm() options (the root drive first, `root=` on the command line as Firecracker
// adds it) and how GET /vm/config shows them.
import type { VmConfig } from '../config';
import { FirecrackerConfigError } from './errors';
import { type BootSource, defaultMachineConfig, type Drive, type Logger, type MachineConfig, type MetricsConfig, type NetworkInterface, type Vsock } from './sections';

/** Firecracker's command line when boot-source gives no boot_args. */
export const FIRECRACKER_DEFAULT_BOOT_ARGS = 'reboot=k panic=1 nomodule 8250.nr_uarts=0 i8042.noaux i8042.nomux i8042.dumbkbd swiotlb=noforce';

/** A Firecracker configuration before InstanceStart (what the config file or the API requests set). */
export class VmSpec {
  /** PUT /boot-source, or the file's `boot-source`: the kernel, initrd and boot args. */
  bootSource: BootSource | undefined;
  /** `machine-config`: vCPUs and memory (Firecracker's defaults until set). */
  machineConfig: MachineConfig = defaultMachineConfig();
  /** `drives`, in the order they were put (see orderedDrives()). */
  readonly drives: Drive[] = [];
  /** `network-interfaces`. */
  readonly networkInterfaces: NetworkInterface[] = [];
  /** `vsock`: the guest CID and the host's Unix socket. */
  vsock: Vsock | undefined;
  /** Whether `entropy` (a virtio-rng device) was configured. */
  entropy = false;
  /** `logger`. */
  logger: Logger | undefined;
  /** `metrics`: the metrics file. */
  metrics: MetricsConfig | undefined;

  /**
   * Adds a drive, or replaces the one with its drive_id.
   * @throws {@link FirecrackerConfigError} when it is a second root drive or its file is another drive's.
   */
  putDrive(drive: Drive, path = 'drives'): void {
    const root = this.drives.find((d) => d.is_root_device && d.drive_id !== drive.drive_id);
    if (drive.is_root_device && root !== undefined) throw new FirecrackerConfigError(path, `a root block device already exists (drive ${root.drive_id})`);
    const other = this.drives.find((d) => d.path_on_host === drive.path_on_host && d.drive_id !== drive.drive_id);
    if (other !== undefined) throw new FirecrackerConfigError(`${path}.path_on_host`, `${drive.path_on_host} is already drive ${other.drive_id}'s`);
    replaceOrAdd(this.drives, drive, (d) => d.drive_id === drive.drive_id);
  }

  /**
   * Adds a network interface, or replaces the one with its iface_id.
   * @throws {@link FirecrackerConfigError} when its TAP or MAC is another interface's.
   */
  putNetworkInterface(iface: NetworkInterface, path = 'network-interfaces'): void {
    const sameTap = this.networkInterfaces.find((n) => n.host_dev_name === iface.host_dev_name && n.iface_id !== iface.iface_id);
    if (sameTap !== undefined) throw new FirecrackerConfigError(`${path}.host_dev_name`, `${iface.host_dev_name} is already interface ${sameTap.iface_id}'s`);
    const sameMac = iface.guest_mac === undefined ? undefined : this.networkInterfaces.find((n) => n.guest_mac?.toLowerCase() === iface.guest_mac?.toLowerCase() && n.iface_id !== iface.iface_id);
    if (sameMac !== undefined) throw new FirecrackerConfigError(`${path}.guest_mac`, `${iface.guest_mac} is already interface ${sameMac.iface_id}'s`);
    replaceOrAdd(this.networkInterfaces, iface, (n) => n.iface_id === iface.iface_id);
  }

  /**
   * The drives in the order the guest sees them: the root drive first (/dev/vda), as Firecracker attaches it.
   * @throws Nothing.
   */
  orderedDrives(): Drive[] {
    return [...this.drives.filter((d) => d.is_root_device), ...this.drives.filter((d) => !d.is_root_device)];
  }

  /**
   * The kernel command line: boot_args (or Firecracker's default) plus `root=` for a root drive.
   * @throws Nothing.
   */
  cmdline(): string {
    const args = this.bootSource?.boot_args ?? FIRECRACKER_DEFAULT_BOOT_ARGS;
    const root = this.drives.find((d) => d.is_root_device);
    if (root === undefined) return args;
    const device = root.partuuid !== undefined ? `PARTUUID=${root.partuuid}` : '/dev/vda';
    return `${args} root=${device} ${root.is_read_only ? 'ro' : 'rw'}`.trim();
  }

  /**
   * The createVm() options this configuration stands for.
   * @throws {@link FirecrackerConfigError} when no boot source is set (InstanceStart without a kernel).
   */
  toVmConfig(): VmConfig {
    if (this.bootSource === undefined) throw new FirecrackerConfigError('boot-source', 'no kernel: configure boot-source (kernel_image_path) before InstanceStart');
    return {
      kernel: this.bootSource.kernel_image_path,
      ...(this.bootSource.initrd_path !== undefined ? { initrd: this.bootSource.initrd_path } : {}),
      cmdline: this.cmdline(),
      memoryMiB: this.machineConfig.mem_size_mib,
      vcpus: this.machineConfig.vcpu_count,
      disks: this.orderedDrives().map((d) => ({ path: d.path_on_host, readOnly: d.is_read_only, id: d.drive_id })),
      networks: this.networkInterfaces.map((n) => ({ tap: n.host_dev_name, id: n.iface_id, ...(n.guest_mac !== undefined ? { mac: n.guest_mac } : {}) })),
      ...(this.vsock !== undefined ? { vsock: { cid: this.vsock.guest_cid, socketPath: this.vsock.uds_path, ...(this.vsock.vsock_id !== undefined ? { id: this.vsock.vsock_id } : {}) } } : {}),
      rng: this.entropy,
    };
  }

  /**
   * GET /vm/config: Firecracker's FullVmConfiguration.
   * @throws Nothing.
   */
  toJson(): Record<string, unknown> {
    return {
      'boot-source': this.bootSource ?? null,
      drives: this.drives,
      'machine-config': this.machineConfig,
      'network-interfaces': this.networkInterfaces,
      vsock: this.vsock ?? null,
      entropy: this.entropy ? {} : null,
      logger: this.logger ?? null,
      metrics: this.metrics ?? null,
      balloon: null,
      'cpu-config': null,
      'mmds-config': null,
    };
  }
}

function replaceOrAdd<T>(list: T[], item: T, same: (existing: T) => boolean): void {
  const at = list.findIndex(same);
  if (at === -1) list.push(item);
  else list[at] = item;
}
