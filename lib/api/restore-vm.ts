// restoreVm(): a running VirtualMachine that goes on from a snapshot. Guest memory is mapped
// copy-on-write from the snapshot (its memfd, or its memory file), so restoring does not copy RAM and
// many clones of one in-memory snapshot share its pages. The devices are rebuilt from the snapshot's
// recipe with the caller's overrides (disk paths, TAP names, the vsock socket), and a clone that would
// share a writable disk, a TAP or a vsock socket with another live VM is refused (SnapshotError
// 'RESOURCE_IN_USE'). Everything is checked before anything is created, and a failure leaves no fd,
// mapping or worker behind.
import * as fs from 'node:fs';
import { restoreLinuxMachine } from '../boot/linux-machine';
import type { Device } from '../devices/device';
import { ClaimError } from '../devices/claims';
import { KvmCapabilityError, KvmUnavailableError } from '../kvm/errors';
import { GuestMemory } from '../memory/guest-memory';
import { ramLayout } from '../memory/layout';
import { buildDevices, type DeviceOptions } from './device-options';
import { VmAbortError, VmConfigError } from './errors';
import { SnapshotError } from './snapshot/errors';
import { isSnapshotFiles, openSnapshotFiles, type SnapshotFiles } from './snapshot/files';
import { checkSnapshotState, type SnapshotState, type VmRecipe } from './snapshot/state';
import { VmSnapshot } from './snapshot/vm-snapshot';
import { VirtualMachine } from './virtual-machine';

/** What restoreVm() takes besides the snapshot: overrides for the devices' host resources, `paused`, `signal`. */
export interface RestoreOptions {
  /** Keep the restored VM paused (resume() lets it go on). Default false: it runs. */
  paused?: boolean;
  /** New backing files for disks, by disk id ('blk0' or the id it was given). */
  disks?: Record<string, { path: string }>;
  /** New TAP interfaces for network devices, by id ('net0' or the id it was given). */
  networks?: Record<string, { tap: string }>;
  /** A new Unix socket path for the vsock device's host side. */
  vsock?: { socketPath: string };
  /**
   * New instances of the snapshot's custom devices (those not built in), in the order the machine
   * had them, with the same ids and kinds: they get the saved states.
   */
  devices?: Device[];
  /** Aborting it stops the restored VM. */
  signal?: AbortSignal;
  /**
   * Time each vCPU in and out of KVM_RUN for metrics() (`inKvmRunNs`, `outOfKvmRunNs`): two clock reads per
   * exit in the addon (20-60 ns each on the machines measured, more than all other exit counting). Default false (it is not part of a snapshot).
   */
  timeKvmRun?: boolean;
  /** Filled with the milliseconds each step of the restore took (for benchmarks). */
  timings?: Partial<Record<RestoreStep, number>>;
}

/** A step of restoreVm() that `timings` reports. */
export type RestoreStep = 'state' | 'devices' | 'memory' | 'machine' | 'start' | 'total';

/** What restoreVm() restores from: an in-memory {@link VmSnapshot} or its files. */
export type RestoreSource = VmSnapshot | SnapshotFiles;

const OPTION_KEYS = new Set(['paused', 'disks', 'networks', 'vsock', 'devices', 'signal', 'timings', 'timeKvmRun']);

function overrideError(message: string): SnapshotError {
  return new SnapshotError('OVERRIDE_MISMATCH', message);
}

/** The recipe with the overrides in place; an override naming nothing in the snapshot is refused. */
function applyOverrides(recipe: VmRecipe, options: RestoreOptions): VmRecipe {
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) throw overrideError(`unknown restore option '${key}'`);
  const disks = recipe.disks.map((disk) => ({ ...disk }));
  for (const [id, override] of Object.entries(options.disks ?? {})) {
    const disk = disks.find((d) => d.id === id);
    if (disk === undefined) throw overrideError(`disks.${id}: the snapshot has no disk '${id}' (it has ${disks.map((d) => d.id).join(', ') || 'none'})`);
    if (typeof override?.path !== 'string' || override.path.length === 0) throw overrideError(`disks.${id}.path must be a non-empty path`);
    disk.path = override.path;
  }
  const networks = recipe.networks.map((network) => ({ ...network }));
  for (const [id, override] of Object.entries(options.networks ?? {})) {
    const network = networks.find((n) => n.id === id);
    if (network === undefined) throw overrideError(`networks.${id}: the snapshot has no network device '${id}' (it has ${networks.map((n) => n.id).join(', ') || 'none'})`);
    if (typeof override?.tap !== 'string' || override.tap.length === 0) throw overrideError(`networks.${id}.tap must be a TAP name`);
    network.tap = override.tap;
  }
  let vsock = recipe.vsock === undefined ? undefined : { ...recipe.vsock };
  if (options.vsock !== undefined) {
    if (vsock === undefined) throw overrideError('vsock: the snapshot has no vsock device');
    if (typeof options.vsock.socketPath !== 'string' || options.vsock.socketPath.length === 0) throw overrideError('vsock.socketPath must be a non-empty path');
    vsock = { ...vsock, socketPath: options.vsock.socketPath };
  }
  return { ...recipe, disks, networks, ...(vsock !== undefined ? { vsock } : {}) };
}

/** Opens the recipe's devices; a resource another live VM holds is named with the device's id. */
async function openDevices(recipe: VmRecipe): Promise<Device[]> {
  const options: DeviceOptions = {
    disks: recipe.disks.map((disk) => ({ path: disk.path, readOnly: disk.readOnly, id: disk.id })),
    networks: recipe.networks.map((network) => ({ tap: network.tap, mac: network.mac, id: network.id })),
    ...(recipe.vsock !== undefined ? { vsock: { cid: recipe.vsock.cid, socketPath: recipe.vsock.socketPath, id: recipe.vsock.id } } : {}),
    rng: recipe.rng,
  };
  try {
    return await buildDevices(options);
  } catch (error) {
    const field = error instanceof VmConfigError ? error.field : undefined;
    const device = deviceOfField(recipe, field);
    if (error instanceof VmConfigError && error.cause instanceof ClaimError) {
      throw new SnapshotError('RESOURCE_IN_USE', `device ${device}: ${error.cause.message}; give the restore an override for it`, { cause: error, ...(device !== undefined ? { device } : {}) });
    }
    throw new SnapshotError('IO', `device ${device ?? field}: ${(error as Error).message}`, { cause: error, ...(device !== undefined ? { device } : {}) });
  }
}

/** The caller's new instances of the snapshot's custom devices, checked against what was saved. */
function customDevices(recipe: VmRecipe, given: readonly Device[]): Device[] {
  const missing = recipe.custom.find((saved, i) => given[i]?.kind !== saved.kind || (given[i]?.requestedId ?? saved.id) !== saved.id);
  if (missing !== undefined) {
    throw new SnapshotError('UNSUPPORTED_DEVICE', `device ${missing.id} (${missing.kind}) is not built in: give restoreVm a new instance of it in options.devices, in machine order`, { device: missing.id });
  }
  if (given.length > recipe.custom.length) throw overrideError(`options.devices has ${given.length} devices, the snapshot ${recipe.custom.length} custom ones`);
  return [...given];
}

function deviceOfField(recipe: VmRecipe, field: string | undefined): string | undefined {
  const match = /^(disks|networks)\[(\d+)\]/.exec(field ?? '');
  if (match?.[1] === 'disks') return recipe.disks[Number(match[2])]?.id;
  if (match?.[1] === 'networks') return recipe.networks[Number(match[2])]?.id;
  if (field?.startsWith('vsock') === true) return recipe.vsock?.id;
  return undefined;
}

function loadSource(source: RestoreSource): { state: SnapshotState; memoryFd: number; closeFd: boolean } {
  if (source instanceof VmSnapshot) {
    const state = source.state;
    checkSnapshotState(state);
    return { state, memoryFd: source.memoryFd, closeFd: false };
  }
  if (!isSnapshotFiles(source)) throw new SnapshotError('BAD_STATE', 'restoreVm takes a VmSnapshot, { statePath, memoryPath } or { path }');
  const { state, memoryFd } = openSnapshotFiles(source);
  return { state, memoryFd, closeFd: true };
}

/**
 * Restores a snapshot as a new VirtualMachine that goes on exactly where the snapshot was taken
 * (running, unless `options.paused`).
 * @param source - a {@link VmSnapshot}, `{ statePath, memoryPath }` or `{ path }` (a directory).
 * @param options - overrides for the devices' host resources, `paused`, `signal`.
 * @returns the restored VM; dispose of it as of one from createVm().
 * @throws {@link SnapshotError} when the state file is damaged, truncated, of another version or
 *   architecture (`code` says which), the memory file has the wrong size, an override matches
 *   nothing, a resource another live VM uses has no override, or rebuilding the machine fails for any
 *   other reason (`BAD_STATE`).
 * @throws {@link KvmUnavailableError} when /dev/kvm cannot be opened, and {@link KvmCapabilityError}
 *   when the host's KVM lacks a capability: these pass through unchanged, not as `BAD_STATE`.
 * @throws {@link VmAbortError} when `options.signal` is already aborted.
 */
export async function restoreVm(source: RestoreSource, options: RestoreOptions = {}): Promise<VirtualMachine> {
  if (options.signal?.aborted) throw new VmAbortError('the restore was aborted before it began', { cause: options.signal.reason });
  const timings = options.timings;
  const started = process.hrtime.bigint();
  let mark = started;
  const step = (name: RestoreStep): void => {
    const now = process.hrtime.bigint();
    if (timings !== undefined) timings[name] = Number(now - mark) / 1e6;
    mark = now;
  };
  const { state, memoryFd, closeFd } = loadSource(source);
  let devices: Device[] = [];
  let memory: GuestMemory | undefined;
  try {
    const recipe = applyOverrides(state.recipe, options);
    step('state');
    const custom = customDevices(recipe, options.devices ?? []);
    devices = [...(await openDevices(recipe)), ...custom];
    step('devices');
    memory = GuestMemory.mapFile(ramLayout(recipe.memorySize), memoryFd, state.memory.regions.map((region) => region.fileOffset));
    step('memory');
  } catch (error) {
    // The caller's custom devices are the restore's from the call on, as createVm's are.
    for (const device of new Set([...devices, ...(options.devices ?? [])])) device.close?.();
    throw error;
  } finally {
    if (closeFd) fs.closeSync(memoryFd); // the mappings keep the file
  }
  let assembled;
  try {
    assembled = restoreLinuxMachine({
      memorySize: state.recipe.memorySize,
      vcpus: state.recipe.vcpus,
      acpi: state.recipe.acpi,
      cmdline: state.recipe.cmdline,
      emulatedKernelMode: state.recipe.emulatedKernelMode,
      devices,
      memory,
      vmState: state.vm,
      vcpuStates: state.vcpus,
      deviceStates: state.devices,
      placements: state.placements,
      timeKvmRun: options.timeKvmRun === true,
    });
  } catch (error) {
    // A host that cannot run VMs is not the snapshot's fault: its error says so (and what to do).
    if (error instanceof SnapshotError || error instanceof KvmUnavailableError || error instanceof KvmCapabilityError) throw error;
    throw new SnapshotError('BAD_STATE', `the snapshot cannot be restored: ${(error as Error).message}`, { cause: error });
  }
  step('machine');
  const { recipe } = state;
  const vm = new VirtualMachine(
    assembled,
    {
      machine: { memorySize: recipe.memorySize, vcpus: recipe.vcpus, acpi: recipe.acpi, cmdline: recipe.cmdline, emulatedKernelMode: recipe.emulatedKernelMode },
      presentPages: state.memory.regions.map((region) => region.present),
    },
    options.signal,
  );
  try {
    await vm.start({ paused: options.paused === true });
  } catch (error) {
    await vm.dispose();
    throw error;
  }
  step('start');
  vm.recordLatency('restore', started);
  if (timings !== undefined) timings.total = Number(process.hrtime.bigint() - started) / 1e6;
  return vm;
}
