// createVm()'s declarative devices: `disks`, `networks`, `vsock`, `rng` (plus custom `devices`). Their
// shapes are checked without touching the host (validateDeviceOptions), then each is opened and made
// into its device (buildDevices): a missing or unreadable disk, a TAP that cannot be opened, a vsock
// socket path in use, a bad MAC or two devices on one path fail here, with the option's field named,
// before any KVM object exists and with everything opened so far closed again.
import * as fs from 'node:fs';
import type { Device } from '../devices/device';
import { VirtioBlkDevice } from '../devices/virtio/blk/device';
import { parseMac } from '../devices/virtio/net/mac';
import { VirtioNetDevice } from '../devices/virtio/net/device';
import { VirtioRngDevice } from '../devices/virtio/rng/device';
import { VirtioMmioDevice } from '../devices/virtio/transport/mmio-device';
import { claimSocketPath, MAX_GUEST_CID, MIN_GUEST_CID, VirtioVsockDevice } from '../devices/virtio/vsock/device';
import { VmConfigError, VmFileError } from './errors';

/** A virtio-blk disk: a path, or `{ path, readOnly, id }`. */
export interface DiskOptions {
  /** The disk image: a regular file or a block device. */
  path: string;
  /** The guest cannot write it (default false); a read-only disk may be shared by several VMs. */
  readOnly?: boolean;
  /** A stable id (default 'blk<n>'); also what the guest's GET_ID returns. */
  id?: string;
}

/** A virtio-net interface on a TAP: `{ tap, mac, id }`. */
export interface NetworkOptions {
  /** A TAP interface's name (created if missing; needs CAP_NET_ADMIN). */
  tap: string;
  /** "52:54:00:12:34:56" (default: random, locally administered). */
  mac?: string;
  /** A stable id (default 'net<n>'). */
  id?: string;
}

/** A virtio-vsock device: `{ cid, socketPath, id }`. */
export interface VsockOptions {
  /** The guest's context id (3 to 2^32-1). */
  cid: number;
  /** The Unix socket host programs connect to; guest connections to port P reach `<socketPath>_<P>`. */
  socketPath: string;
  /** An id of its own (default `vsock0`). */
  id?: string;
}

/** The declarative devices of createVm(): disks, networks, vsock, rng, and devices of your own. */
export interface DeviceOptions {
  /** Block devices, in order: the first is the guest's /dev/vda. A string is `{ path }`. */
  disks?: (string | DiskOptions)[];
  /** Network interfaces on TAP devices, in order. */
  networks?: NetworkOptions[];
  /** A virtio-vsock device (Firecracker's hybrid Unix-socket host side). */
  vsock?: VsockOptions;
  /** A virtio-rng device fed from the host's CSPRNG. */
  rng?: boolean;
  /** Custom virtio-mmio devices (placed by the machine unless they fix their base and line). */
  virtio?: VirtioMmioDevice[];
  /** Custom devices of any kind (the Device interface). */
  devices?: Device[];
}

export const DEVICE_FIELDS = ['disks', 'networks', 'vsock', 'rng', 'virtio', 'devices'] as const;

/** Longest interface name Linux takes (IFNAMSIZ - 1). */
const IFNAME_MAX = 15;
const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(field: string, record: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(record)) if (!known.includes(key)) throw new VmConfigError(`${field}.${key}`, `unknown option (known: ${known.join(', ')})`);
}

function checkId(field: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) throw new VmConfigError(field, 'must be 1 to 64 letters, digits, dots, dashes or underscores');
}

function normalizeDisk(entry: unknown, field: string): DiskOptions {
  const disk = typeof entry === 'string' ? { path: entry } : entry;
  if (!isObject(disk)) throw new VmConfigError(field, 'must be a path or { path, readOnly?, id? }');
  checkKeys(field, disk, ['path', 'readOnly', 'id']);
  if (typeof disk.path !== 'string' || disk.path.length === 0) throw new VmConfigError(`${field}.path`, 'must be a non-empty path');
  if (disk.readOnly !== undefined && typeof disk.readOnly !== 'boolean') throw new VmConfigError(`${field}.readOnly`, 'must be a boolean');
  checkId(`${field}.id`, disk.id);
  return disk as unknown as DiskOptions;
}

/** Checks the shapes of the device options (no host access). */
export function validateDeviceOptions(record: Record<string, unknown>): void {
  if (record.disks !== undefined) {
    if (!Array.isArray(record.disks)) throw new VmConfigError('disks', 'must be an array of paths or { path, readOnly?, id? }');
    record.disks.forEach((disk, i) => normalizeDisk(disk, `disks[${i}]`));
  }
  if (record.networks !== undefined) {
    if (!Array.isArray(record.networks)) throw new VmConfigError('networks', 'must be an array of { tap, mac?, id? }');
    record.networks.forEach((network: unknown, i) => {
      const field = `networks[${i}]`;
      if (!isObject(network)) throw new VmConfigError(field, 'must be { tap, mac?, id? }');
      checkKeys(field, network, ['tap', 'mac', 'id']);
      if (typeof network.tap !== 'string' || network.tap.length === 0 || network.tap.length > IFNAME_MAX || /[\s/:]/.test(network.tap)) {
        throw new VmConfigError(`${field}.tap`, `must be an interface name of 1 to ${IFNAME_MAX} characters without spaces, '/' or ':'`);
      }
      if (network.mac !== undefined) {
        if (typeof network.mac !== 'string') throw new VmConfigError(`${field}.mac`, 'must be a string like 52:54:00:12:34:56');
        try {
          parseMac(network.mac);
        } catch (error) {
          throw new VmConfigError(`${field}.mac`, (error as Error).message, { cause: error });
        }
      }
      checkId(`${field}.id`, network.id);
    });
    const taps = (record.networks as NetworkOptions[]).map((n) => n.tap);
    taps.forEach((tap, i) => {
      if (taps.indexOf(tap) !== i) throw new VmConfigError(`networks[${i}].tap`, `TAP ${tap} is already networks[${taps.indexOf(tap)}]'s`);
    });
  }
  if (record.vsock !== undefined) {
    const vsock = record.vsock;
    if (!isObject(vsock)) throw new VmConfigError('vsock', 'must be { cid, socketPath, id? }');
    checkKeys('vsock', vsock, ['cid', 'socketPath', 'id']);
    if (typeof vsock.cid !== 'number' || !Number.isInteger(vsock.cid) || vsock.cid < Number(MIN_GUEST_CID) || vsock.cid > Number(MAX_GUEST_CID)) {
      throw new VmConfigError('vsock.cid', `must be an integer from ${MIN_GUEST_CID} to ${MAX_GUEST_CID}`);
    }
    if (typeof vsock.socketPath !== 'string' || vsock.socketPath.length === 0) throw new VmConfigError('vsock.socketPath', 'must be a non-empty path');
    checkId('vsock.id', vsock.id);
  }
  if (record.rng !== undefined && typeof record.rng !== 'boolean') throw new VmConfigError('rng', 'must be a boolean');
  if (record.virtio !== undefined && (!Array.isArray(record.virtio) || !record.virtio.every((device) => device instanceof VirtioMmioDevice))) {
    throw new VmConfigError('virtio', 'must be an array of VirtioMmioDevice');
  }
  if (record.devices !== undefined && (!Array.isArray(record.devices) || !record.devices.every(isDevice))) {
    throw new VmConfigError('devices', 'must be an array of Device objects (see the Device interface)');
  }
  const custom = [...((record.virtio as Device[] | undefined) ?? []), ...((record.devices as Device[] | undefined) ?? [])];
  custom.forEach((device, i) => {
    if (custom.indexOf(device) !== i) throw new VmConfigError(record.virtio !== undefined && i < (record.virtio as unknown[]).length ? 'virtio' : 'devices', 'lists one device twice');
    if ((device as Partial<VirtioMmioDevice>).placed === true) throw new VmConfigError('virtio', `device ${device.kind} already belongs to a machine`);
  });
}

function isDevice(value: unknown): value is Device {
  const device = value as Partial<Device> | null;
  return typeof device === 'object' && device !== null && typeof device.kind === 'string' && typeof device.place === 'function' && typeof device.kernelCmdline === 'function' && typeof device.acpiNode === 'function' && device.needs !== undefined;
}

/** Whatever names one file: its device and inode (so two paths to one file are caught). */
function fileIdentity(path: string): string | undefined {
  try {
    const stat = fs.statSync(path);
    return `${stat.dev}:${stat.ino}`;
  } catch {
    return undefined;
  }
}

/** Opens what the options name and makes the devices; on any failure closes what it opened. */
export async function buildDevices(options: DeviceOptions): Promise<Device[]> {
  const built: Device[] = [];
  const attempt = <T extends Device>(field: string, make: () => T): T => {
    try {
      const device = make();
      built.push(device);
      return device;
    } catch (error) {
      throw new VmConfigError(field, (error as Error).message, { cause: error });
    }
  };
  try {
    const files = new Map<string, number>();
    (options.disks ?? []).forEach((entry, i) => {
      const disk = normalizeDisk(entry, `disks[${i}]`);
      const field = `disks[${i}].path`;
      try {
        fs.accessSync(disk.path, disk.readOnly === true ? fs.constants.R_OK : fs.constants.R_OK | fs.constants.W_OK);
      } catch (error) {
        throw new VmFileError(field, disk.path, error);
      }
      const identity = fileIdentity(disk.path);
      const earlier = identity === undefined ? undefined : files.get(identity);
      if (earlier !== undefined) throw new VmConfigError(field, `${disk.path} is already disks[${earlier}]`);
      if (identity !== undefined) files.set(identity, i);
      attempt(field, () => new VirtioBlkDevice({ path: disk.path, ...(disk.readOnly !== undefined ? { readOnly: disk.readOnly } : {}), ...(disk.id !== undefined ? { id: disk.id } : {}) }));
    });
    (options.networks ?? []).forEach((network, i) => {
      attempt(`networks[${i}].tap`, () => new VirtioNetDevice({ tap: network.tap, ...(network.mac !== undefined ? { mac: network.mac } : {}), ...(network.id !== undefined ? { id: network.id } : {}) }));
    });
    if (options.vsock !== undefined) {
      const vsock = options.vsock;
      // The device claims the path among this process's VMs first; then nobody else may listen there.
      attempt('vsock.socketPath', () => new VirtioVsockDevice({ cid: vsock.cid, socketPath: vsock.socketPath, ...(vsock.id !== undefined ? { id: vsock.id } : {}) }));
      try {
        await claimSocketPath(vsock.socketPath);
      } catch (error) {
        throw new VmConfigError('vsock.socketPath', (error as Error).message, { cause: error });
      }
    }
    if (options.rng === true) attempt('rng', () => new VirtioRngDevice());
    built.push(...(options.virtio ?? []), ...(options.devices ?? []));
    return built;
  } catch (error) {
    for (const device of built) {
      try {
        device.close?.();
      } catch {
        // keep closing the others
      }
    }
    throw error;
  }
}
