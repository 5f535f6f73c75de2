// What a snapshot holds besides guest memory, and the checks a loaded one must pass before anything
// is created from it: every field of the right type and within range, so a crafted or damaged state
// gives a SnapshotError, never a failed ioctl halfway through a restore or a host crash.
import type { VcpuState } from '../../arch/x86_64/vcpu-state';
import type { VmState } from '../../arch/x86_64/vm-state';
import { PAGE_SIZE, ramLayout } from '../../memory/layout';
import type { DiskOptions, NetworkOptions, VsockOptions } from '../device-options';
import { SnapshotError } from './errors';

/** How to rebuild the VM around the state: createVm's own options, with every id and MAC explicit. */
export interface VmRecipe {
  memorySize: number;
  vcpus: number;
  acpi: boolean;
  cmdline: string;
  emulatedKernelMode: boolean;
  disks: (DiskOptions & { id: string; readOnly: boolean })[];
  networks: (NetworkOptions & { id: string; mac: string })[];
  vsock?: VsockOptions & { id: string };
  rng: boolean;
  /** Devices that are not built in, in machine order: a restore is given new instances of them. */
  custom: { id: string; kind: string }[];
}

/** Where each device was placed (a restore places them again and must land on the same). */
export interface SavedPlacement {
  id: string;
  kind: string;
  mmioBase?: number;
  irq?: number;
}

export interface SavedRegion {
  guestAddress: number;
  size: number;
  /** Where the region starts in the memory file. */
  fileOffset: number;
  /** The pages that hold data, as [first page, page count] runs; the others are holes (zero). */
  present: number[];
}

export interface SnapshotState {
  recipe: VmRecipe;
  placements: SavedPlacement[];
  devices: Record<string, unknown>;
  vm: VmState;
  vcpus: VcpuState[];
  memory: { regions: SavedRegion[]; fileSize: number };
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isInt = (value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): value is number => typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;

function bad(what: string): SnapshotError {
  return new SnapshotError('BAD_STATE', `the snapshot's ${what}`);
}

function checkBytes(value: unknown, what: string): void {
  if (!(value instanceof Uint8Array)) throw bad(`${what} is not binary data`);
}

function checkVcpu(value: unknown, index: number): void {
  const what = `vCPU ${index}`;
  if (!isRecord(value) || !Array.isArray(value.cpuid) || !Array.isArray(value.msrs) || !isInt(value.mpState) || !isRecord(value.structs)) throw bad(`${what} state is malformed`);
  for (const entry of value.msrs as unknown[]) {
    if (!isRecord(entry) || !isInt(entry.index, 0, 0xffffffff) || typeof entry.data !== 'bigint') throw bad(`${what} has a malformed MSR`);
  }
  for (const entry of value.cpuid as unknown[]) if (!isRecord(entry) || !isInt(entry.function, 0, 0xffffffff)) throw bad(`${what} has a malformed CPUID entry`);
  for (const kind of ['regs', 'sregs', 'fpu', 'xsave', 'xcrs', 'debugregs', 'lapic', 'events']) checkBytes(value.structs[kind], `${what} ${kind}`);
}

function checkRecipe(value: unknown): void {
  if (!isRecord(value)) throw bad('machine description is missing');
  if (!isInt(value.memorySize, PAGE_SIZE) || value.memorySize % PAGE_SIZE !== 0) throw bad('memory size is not a page multiple');
  if (!isInt(value.vcpus, 1, 254)) throw bad('vCPU count is out of range');
  if (typeof value.acpi !== 'boolean' || typeof value.cmdline !== 'string' || typeof value.emulatedKernelMode !== 'boolean' || typeof value.rng !== 'boolean') throw bad('machine description is malformed');
  if (!Array.isArray(value.disks) || !Array.isArray(value.networks)) throw bad('device list is malformed');
  for (const disk of value.disks as unknown[]) if (!isRecord(disk) || typeof disk.path !== 'string' || typeof disk.id !== 'string' || typeof disk.readOnly !== 'boolean') throw bad('disk list is malformed');
  for (const network of value.networks as unknown[]) if (!isRecord(network) || typeof network.tap !== 'string' || typeof network.id !== 'string' || typeof network.mac !== 'string') throw bad('network list is malformed');
  if (!Array.isArray(value.custom) || !value.custom.every((d: unknown) => isRecord(d) && typeof d.id === 'string' && typeof d.kind === 'string')) throw bad('custom device list is malformed');
  if (value.vsock !== undefined && (!isRecord(value.vsock) || !isInt(value.vsock.cid, 3, 0xffffffff) || typeof value.vsock.socketPath !== 'string' || typeof value.vsock.id !== 'string')) throw bad('vsock device is malformed');
}

/** Throws SnapshotError('BAD_STATE') unless `value` is a complete, consistent snapshot state. */
export function checkSnapshotState(value: unknown): asserts value is SnapshotState {
  if (!isRecord(value)) throw bad('state is not an object');
  checkRecipe(value.recipe);
  const recipe = value.recipe as VmRecipe;
  if (!Array.isArray(value.placements) || !value.placements.every((p: unknown) => isRecord(p) && typeof p.id === 'string' && typeof p.kind === 'string')) throw bad('device placements are malformed');
  if (!isRecord(value.devices)) throw bad('device states are missing');
  const vm = value.vm;
  if (!isRecord(vm) || !Array.isArray(vm.irqchips) || vm.irqchips.length !== 3 || typeof vm.clock !== 'bigint') throw bad('VM state is malformed');
  (vm.irqchips as unknown[]).forEach((chip, i) => checkBytes(chip, `irqchip ${i}`));
  checkBytes(vm.pit, 'PIT state');
  if (!Array.isArray(value.vcpus) || value.vcpus.length !== recipe.vcpus) throw bad(`vCPU list does not hold ${recipe.vcpus} vCPUs`);
  value.vcpus.forEach((vcpu: unknown, i: number) => checkVcpu(vcpu, i));
  const memory = value.memory;
  if (!isRecord(memory) || !Array.isArray(memory.regions) || !isInt(memory.fileSize)) throw bad('memory description is malformed');
  const layout = ramLayout(recipe.memorySize);
  if (memory.regions.length !== layout.length) throw bad(`memory has ${memory.regions.length} regions, ${layout.length} expected for its size`);
  let fileEnd = 0;
  memory.regions.forEach((region: unknown, i: number) => {
    const expected = layout[i] as { guestAddress: number; size: number };
    if (!isRecord(region) || region.guestAddress !== expected.guestAddress || region.size !== expected.size || !isInt(region.fileOffset) || region.fileOffset % PAGE_SIZE !== 0) throw bad(`memory region ${i} does not match the memory size`);
    if (!Array.isArray(region.present) || region.present.length % 2 !== 0) throw bad(`memory region ${i}'s page list is malformed`);
    const pages = expected.size / PAGE_SIZE;
    for (let at = 0; at < region.present.length; at += 2) {
      const first = region.present[at];
      const count = region.present[at + 1];
      if (!isInt(first) || !isInt(count, 1) || first + count > pages) throw bad(`memory region ${i}'s page list runs past the region`);
    }
    fileEnd = Math.max(fileEnd, (region.fileOffset as number) + expected.size);
  });
  if (memory.fileSize !== fileEnd) throw bad(`memory file size ${memory.fileSize} does not match its regions (${fileEnd})`);
}
