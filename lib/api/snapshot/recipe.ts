// The recipe of a VM: the createVm options that rebuild its machine and devices, every id and MAC
// made explicit (a restored guest must find its devices where they were, its NIC with the same MAC).
import type { Device } from '../../devices/device';
import { VirtioBlkDevice } from '../../devices/virtio/blk/device';
import { VirtioNetDevice } from '../../devices/virtio/net/device';
import { VirtioRngDevice } from '../../devices/virtio/rng/device';
import { VirtioVsockDevice } from '../../devices/virtio/vsock/device';
import type { VmRecipe } from './state';

/** The kinds createLinuxMachine adds by itself (rebuilt by the restore, not by the recipe). */
const STANDARD_KINDS = new Set(['serial', 'i8042', 'debug-exit', 'acpi-sleep']);

export interface RecipeMachine {
  memorySize: number;
  vcpus: number;
  acpi: boolean;
  cmdline: string;
  emulatedKernelMode: boolean;
}

/** The recipe, or the ids of the devices a snapshot cannot rebuild (custom ones). */
export function recipeOf(machine: RecipeMachine, devices: readonly Device[]): { recipe: VmRecipe; unsupported: string[] } {
  const recipe: VmRecipe = { ...machine, disks: [], networks: [], rng: false };
  const unsupported: string[] = [];
  for (const device of devices) {
    if (STANDARD_KINDS.has(device.kind)) continue;
    if (device instanceof VirtioBlkDevice) recipe.disks.push({ path: device.file.path, readOnly: device.file.readOnly, id: device.id });
    else if (device instanceof VirtioNetDevice) recipe.networks.push({ tap: device.tap.name, mac: device.mac, id: device.id });
    else if (device instanceof VirtioVsockDevice && recipe.vsock === undefined) recipe.vsock = { cid: Number(device.cid), socketPath: device.socketPath, id: device.id };
    else if (device instanceof VirtioRngDevice && !recipe.rng) recipe.rng = true;
    else unsupported.push(device.id);
  }
  return { recipe, unsupported };
}
