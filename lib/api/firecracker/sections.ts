// Firecracker's configuration sections (boot-source, drives, machine-config, network-interfaces,
// vsock, entropy, logger, metrics), each read from its JSON into a typed value with Firecracker's
// field names and defaults (its swagger spec). The config file and the REST API both use these.
import { FirecrackerConfigError } from './errors';
import { isUnlimitedRateLimiter, jsonPath, JsonObject } from './json-reader';

/** Firecracker's own limit on vcpu_count (its MachineConfiguration: 1 to 32). */
export const FIRECRACKER_MAX_VCPUS = 32;
/** Firecracker's defaults when machine-config is not given. */
export const FIRECRACKER_DEFAULT_VCPUS = 1;
export const FIRECRACKER_DEFAULT_MEM_MIB = 128;
/** Largest guest RAM accepted (node-vmm's createVm limit). */
const MAX_MEM_MIB = 1024 * 1024;
const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const RATE_LIMITER_WHY = 'node-vmm has no I/O rate limiter (null, {} or buckets of size 0 are accepted)';

export interface BootSource {
  kernel_image_path: string;
  boot_args?: string;
  initrd_path?: string;
}

export interface Drive {
  drive_id: string;
  path_on_host: string;
  is_root_device: boolean;
  is_read_only: boolean;
  partuuid?: string;
  cache_type: 'Unsafe' | 'Writeback';
  io_engine: 'Sync';
}

export interface MachineConfig {
  vcpu_count: number;
  mem_size_mib: number;
  smt: boolean;
  track_dirty_pages: boolean;
  huge_pages: 'None';
}

export interface NetworkInterface {
  iface_id: string;
  host_dev_name: string;
  guest_mac?: string;
}

export interface Vsock {
  guest_cid: number;
  uds_path: string;
  vsock_id?: string;
}

export type LogLevel = 'Error' | 'Warning' | 'Info' | 'Debug' | 'Trace' | 'Off';
export const LOG_LEVELS: readonly LogLevel[] = ['Error', 'Warning', 'Info', 'Debug', 'Trace', 'Off'];

export interface Logger {
  log_path?: string;
  level: LogLevel;
  show_level: boolean;
  show_log_origin: boolean;
  module?: string;
}

export interface MetricsConfig {
  metrics_path: string;
  emit_id: boolean;
  properties?: Record<string, string>;
}

function checkId(body: JsonObject, key: string): string {
  const id = body.nonEmpty(key, true);
  if (!ID_PATTERN.test(id)) throw new FirecrackerConfigError(jsonPath(body.path, key), 'must be 1 to 64 letters, digits, dots, dashes or underscores');
  return id;
}

export function parseBootSource(value: unknown, path: string): BootSource {
  const body = new JsonObject(value, path, ['kernel_image_path', 'boot_args', 'initrd_path']);
  const bootArgs = body.string('boot_args');
  const initrd = body.nonEmpty('initrd_path');
  return {
    kernel_image_path: body.nonEmpty('kernel_image_path', true),
    ...(bootArgs !== undefined ? { boot_args: bootArgs } : {}),
    ...(initrd !== undefined ? { initrd_path: initrd } : {}),
  };
}

const DRIVE_FIELDS = ['drive_id', 'partuuid', 'is_root_device', 'cache_type', 'is_read_only', 'path_on_host', 'rate_limiter', 'io_engine', 'socket'];

export function parseDrive(value: unknown, path: string): Drive {
  const body = new JsonObject(value, path, DRIVE_FIELDS);
  body.unsupported('socket', 'node-vmm has no vhost-user-block back end');
  body.unsupported('rate_limiter', RATE_LIMITER_WHY, isUnlimitedRateLimiter);
  body.unsupported('io_engine', 'node-vmm serves disks with its own I/O threads; only "Sync" (the default) is accepted', (v) => v === 'Sync');
  const isRoot = body.boolean('is_root_device');
  if (isRoot === undefined) throw new FirecrackerConfigError(jsonPath(path, 'is_root_device'), 'is required');
  const partuuid = body.nonEmpty('partuuid');
  return {
    drive_id: checkId(body, 'drive_id'),
    path_on_host: body.nonEmpty('path_on_host', true),
    is_root_device: isRoot,
    is_read_only: body.boolean('is_read_only', false),
    ...(partuuid !== undefined ? { partuuid } : {}),
    cache_type: body.oneOf('cache_type', ['Unsafe', 'Writeback'] as const, 'Unsafe'),
    io_engine: 'Sync',
  };
}

/** PATCH /drives/{id}: a new backing file (and a rate limiter, refused unless unlimited). */
export function parsePartialDrive(value: unknown, path: string): { drive_id: string; path_on_host?: string } {
  const body = new JsonObject(value, path, ['drive_id', 'path_on_host', 'rate_limiter']);
  body.unsupported('rate_limiter', RATE_LIMITER_WHY, isUnlimitedRateLimiter);
  const newPath = body.nonEmpty('path_on_host');
  return { drive_id: checkId(body, 'drive_id'), ...(newPath !== undefined ? { path_on_host: newPath } : {}) };
}

const MACHINE_FIELDS = ['vcpu_count', 'mem_size_mib', 'smt', 'track_dirty_pages', 'cpu_template', 'huge_pages'];

/** PUT replaces the whole machine-config (defaults for what is missing); PATCH (`base` given) changes only what is present. */
export function parseMachineConfig(value: unknown, path: string, base?: MachineConfig): MachineConfig {
  const body = new JsonObject(value, path, MACHINE_FIELDS);
  body.unsupported('cpu_template', 'node-vmm has no CPU templates (its guests see the host CPUID, filtered); only "None" is accepted', (v) => v === 'None');
  body.unsupported('smt', 'node-vmm describes no SMT siblings; only false is accepted', (v) => v === false);
  body.unsupported('huge_pages', 'createVm backs guest RAM with 4 KiB pages; only "None" is accepted', (v) => v === 'None');
  const vcpus = body.integer('vcpu_count', 1, FIRECRACKER_MAX_VCPUS, base === undefined);
  const mem = body.integer('mem_size_mib', 2, MAX_MEM_MIB, base === undefined);
  return {
    vcpu_count: vcpus ?? base?.vcpu_count ?? FIRECRACKER_DEFAULT_VCPUS,
    mem_size_mib: mem ?? base?.mem_size_mib ?? FIRECRACKER_DEFAULT_MEM_MIB,
    smt: false,
    // node-vmm always tracks the pages a guest writes (its snapshots hold only those), so either value holds.
    track_dirty_pages: body.boolean('track_dirty_pages', base?.track_dirty_pages ?? false),
    huge_pages: 'None',
  };
}

export function defaultMachineConfig(): MachineConfig {
  return { vcpu_count: FIRECRACKER_DEFAULT_VCPUS, mem_size_mib: FIRECRACKER_DEFAULT_MEM_MIB, smt: false, track_dirty_pages: false, huge_pages: 'None' };
}

export function parseNetworkInterface(value: unknown, path: string): NetworkInterface {
  const body = new JsonObject(value, path, ['iface_id', 'host_dev_name', 'guest_mac', 'mtu', 'rx_rate_limiter', 'tx_rate_limiter']);
  body.unsupported('rx_rate_limiter', RATE_LIMITER_WHY, isUnlimitedRateLimiter);
  body.unsupported('tx_rate_limiter', RATE_LIMITER_WHY, isUnlimitedRateLimiter);
  body.unsupported('mtu', 'node-vmm does not offer VIRTIO_NET_F_MTU');
  const mac = body.nonEmpty('guest_mac');
  if (mac !== undefined && !/^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/.test(mac)) throw new FirecrackerConfigError(jsonPath(path, 'guest_mac'), `must be a MAC address like 06:00:AC:10:00:02, got "${mac}"`);
  return { iface_id: checkId(body, 'iface_id'), host_dev_name: body.nonEmpty('host_dev_name', true), ...(mac !== undefined ? { guest_mac: mac } : {}) };
}

/** PATCH /network-interfaces/{id}: only rate limiters, which must limit nothing. */
export function parsePartialNetworkInterface(value: unknown, path: string): { iface_id: string } {
  const body = new JsonObject(value, path, ['iface_id', 'rx_rate_limiter', 'tx_rate_limiter']);
  body.unsupported('rx_rate_limiter', RATE_LIMITER_WHY, isUnlimitedRateLimiter);
  body.unsupported('tx_rate_limiter', RATE_LIMITER_WHY, isUnlimitedRateLimiter);
  return { iface_id: checkId(body, 'iface_id') };
}

export function parseVsock(value: unknown, path: string): Vsock {
  const body = new JsonObject(value, path, ['guest_cid', 'uds_path', 'vsock_id']);
  const vsockId = body.string('vsock_id');
  if (vsockId !== undefined && !ID_PATTERN.test(vsockId)) throw new FirecrackerConfigError(jsonPath(path, 'vsock_id'), 'must be 1 to 64 letters, digits, dots, dashes or underscores');
  return { guest_cid: body.integer('guest_cid', 3, 0xffff_ffff, true), uds_path: body.nonEmpty('uds_path', true), ...(vsockId !== undefined ? { vsock_id: vsockId } : {}) };
}

export function parseEntropy(value: unknown, path: string): true {
  const body = new JsonObject(value, path, ['rate_limiter']);
  body.unsupported('rate_limiter', RATE_LIMITER_WHY, isUnlimitedRateLimiter);
  return true;
}

export function parseLogger(value: unknown, path: string): Logger {
  const body = new JsonObject(value, path, ['log_path', 'level', 'show_level', 'show_log_origin', 'module']);
  const logPath = body.nonEmpty('log_path');
  const module = body.string('module');
  return {
    ...(logPath !== undefined ? { log_path: logPath } : {}),
    level: body.oneOf('level', LOG_LEVELS, 'Info'),
    show_level: body.boolean('show_level', false),
    show_log_origin: body.boolean('show_log_origin', false),
    ...(module !== undefined ? { module } : {}),
  };
}

export function parseMetricsConfig(value: unknown, path: string): MetricsConfig {
  const body = new JsonObject(value, path, ['metrics_path', 'emit_id', 'properties']);
  const properties = body.raw('properties');
  if (properties !== undefined) {
    const props = new JsonObject(properties, jsonPath(path, 'properties'), Object.keys(properties as object));
    for (const key of Object.keys(properties as object)) props.string(key, true);
  }
  return {
    metrics_path: body.nonEmpty('metrics_path', true),
    emit_id: body.boolean('emit_id', false),
    ...(properties !== undefined ? { properties: properties as Record<string, string> } : {}),
  };
}
