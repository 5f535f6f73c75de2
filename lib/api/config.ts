// createVm() options: their defaults and validation. Everything here runs before any KVM object
// exists, so a bad option never leaves a VM behind; kernel images are parsed here too (BootError).
import * as fs from 'node:fs/promises';
import { type KernelImage, parseKernel } from '../boot/kernel-image';
import type { Device } from '../devices/device';
import { bundledGuestPath } from '../guest/bundled';
import { MAX_VCPUS } from '../runner/machine';
import { buildDevices, DEVICE_FIELDS, type DeviceOptions, validateDeviceOptions } from './device-options';
import { VmConfigError, VmFileError } from './errors';

/** Guest RAM in MiB unless `memoryMiB` says otherwise. */
export const DEFAULT_MEMORY_MIB = 128;
/** The number of vCPUs unless `vcpus` says otherwise. */
export const DEFAULT_VCPUS = 1;
/** Largest guest RAM createVm() accepts (MiB). */
export const MAX_MEMORY_MIB = 1024 * 1024;
/** Below this Linux and the bundled guest do not fit. */
export const MIN_MEMORY_MIB = 2;

/**
 * What createVm() takes: the kernel, initrd, command line, memory, vCPUs, devices, ACPI and an AbortSignal; every
 * field optional.
 */
export interface VmConfig extends DeviceOptions {
  /** A bzImage or ELF vmlinux: a file path or its bytes. Default: the bundled guest. */
  kernel?: string | Uint8Array;
  /** An initrd: a file path or its bytes. */
  initrd?: string | Uint8Array;
  /** The kernel command line (default ''). */
  cmdline?: string;
  /** Guest RAM in MiB (default 128). */
  memoryMiB?: number;
  /** Number of vCPUs (default 1). */
  vcpus?: number;
  /** Aborting it stops the VM; an already-aborted signal makes createVm() reject. */
  signal?: AbortSignal;
  /**
   * Whether KVM here emulates guest kernel mode (nested PVM); default: detected. True adjusts a Linux
   * boot for it (CX16 hidden, `noxsave`, gzip/LZ4 bzImages decompressed on the host); false boots as given.
   */
  emulatedKernelMode?: boolean;
  /** Describe the machine with ACPI tables (see createLinuxMachine's `acpi`); default false. */
  acpi?: boolean;
  /**
   * Time each vCPU in and out of KVM_RUN for metrics() (`inKvmRunNs`, `outOfKvmRunNs`): two clock reads per
   * exit in the addon (20-60 ns each on the machines measured, more than all other exit counting). Default false.
   */
  timeKvmRun?: boolean;
}

/** A validated config with the files read. */
export interface ResolvedVmConfig {
  /** The kernel, parsed (once). */
  kernel: KernelImage;
  kernelSource: string;
  initrd?: Uint8Array;
  cmdline: string;
  memorySize: number;
  vcpus: number;
  signal?: AbortSignal;
  /** The devices the options name, opened (their owner closes them: the machine, or a failed createVm). */
  devices: Device[];
  emulatedKernelMode?: boolean;
  acpi: boolean;
  timeKvmRun: boolean;
}

const KNOWN_FIELDS = new Set(['kernel', 'initrd', 'cmdline', 'memoryMiB', 'vcpus', 'signal', 'emulatedKernelMode', 'acpi', 'timeKvmRun', ...DEVICE_FIELDS]);

function isAbortSignal(value: unknown): value is AbortSignal {
  return typeof value === 'object' && value !== null && typeof (value as AbortSignal).aborted === 'boolean' && typeof (value as AbortSignal).addEventListener === 'function';
}

function checkInteger(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new VmConfigError(field, `must be an integer from ${min} to ${max}, got ${typeof value === 'number' ? value : typeof value}`);
  }
  return value;
}

/** Checks the shape of every option without touching the filesystem. */
export function validateVmConfig(config: unknown): asserts config is VmConfig {
  if (config === undefined) return;
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new VmConfigError('config', 'must be an object');
  const record = config as Record<string, unknown>;
  for (const key of Object.keys(record)) if (!KNOWN_FIELDS.has(key)) throw new VmConfigError(key, `unknown option (known: ${[...KNOWN_FIELDS].join(', ')})`);
  for (const field of ['kernel', 'initrd'] as const) {
    const value = record[field];
    if (value === undefined) continue;
    if (typeof value === 'string') {
      if (value.length === 0) throw new VmConfigError(field, 'must not be an empty path');
    } else if (!(value instanceof Uint8Array)) {
      throw new VmConfigError(field, `must be a file path or a Uint8Array, got ${value === null ? 'null' : typeof value}`);
    } else if (value.length === 0) {
      throw new VmConfigError(field, 'must not be empty');
    }
  }
  if (record.cmdline !== undefined) {
    if (typeof record.cmdline !== 'string') throw new VmConfigError('cmdline', `must be a string, got ${typeof record.cmdline}`);
    if (record.cmdline.includes('\0')) throw new VmConfigError('cmdline', 'must not contain a NUL character');
  }
  if (record.memoryMiB !== undefined) checkInteger('memoryMiB', record.memoryMiB, MIN_MEMORY_MIB, MAX_MEMORY_MIB);
  if (record.vcpus !== undefined) checkInteger('vcpus', record.vcpus, 1, MAX_VCPUS);
  if (record.signal !== undefined && !isAbortSignal(record.signal)) throw new VmConfigError('signal', 'must be an AbortSignal');
  for (const field of ['emulatedKernelMode', 'acpi', 'timeKvmRun'] as const) {
    if (record[field] !== undefined && typeof record[field] !== 'boolean') throw new VmConfigError(field, `must be a boolean, got ${typeof record[field]}`);
  }
  validateDeviceOptions(record);
}

async function readImage(field: string, value: string | Uint8Array): Promise<Uint8Array> {
  if (typeof value !== 'string') return value;
  try {
    return new Uint8Array(await fs.readFile(value));
  } catch (error) {
    throw new VmFileError(field, value, error);
  }
}

/** Validates the options, applies defaults, reads the files, parses the kernel and opens the devices. */
export async function resolveVmConfig(config: VmConfig = {}): Promise<ResolvedVmConfig> {
  validateVmConfig(config);
  const kernelOption = config.kernel ?? bundledGuestPath();
  let kernel: Uint8Array;
  try {
    kernel = await readImage('kernel', kernelOption);
  } catch (error) {
    if (config.kernel === undefined && error instanceof VmFileError && error.code === 'ENOENT') {
      throw new VmConfigError('kernel', `no kernel given and the bundled guest ${error.path} is missing (build it with \`npm run build:guest\`)`, { cause: error });
    }
    throw error;
  }
  const image = parseKernel(kernel); // throws BootError for an image this VMM cannot boot
  const initrd = config.initrd === undefined ? undefined : await readImage('initrd', config.initrd);
  const devices = await buildDevices(config);
  return {
    kernel: image,
    kernelSource: typeof kernelOption === 'string' ? kernelOption : '<bytes>',
    ...(initrd !== undefined ? { initrd } : {}),
    cmdline: config.cmdline ?? '',
    memorySize: (config.memoryMiB ?? DEFAULT_MEMORY_MIB) * 1024 * 1024,
    vcpus: config.vcpus ?? DEFAULT_VCPUS,
    ...(config.signal !== undefined ? { signal: config.signal } : {}),
    devices,
    ...(config.emulatedKernelMode !== undefined ? { emulatedKernelMode: config.emulatedKernelMode } : {}),
    acpi: config.acpi ?? false,
    timeKvmRun: config.timeKvmRun ?? false,
  };
}
