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

/**
 * The recipe. Custom devices (anything not built in) are listed by id and kind: a restore is given
 * new instances of them (restoreVm's `devices`), which get their saved states.
 */
export function recipeOf(machine: RecipeMachine, devices: readonly Device[]): VmRecipe {
  const recipe: VmRecipe = { ...machine, disks: [], networks: [], rng: false, custom: [] };
  for (const device of devices) {
    if (STANDARD_KINDS.has(device.kind)) continue;
    if (device instanceof VirtioBlkDevice) recipe.disks.push({ path: device.file.path, readOnly: device.file.readOnly, id: device.id });
    else if (device instanceof VirtioNetDevice) recipe.networks.push({ tap: device.tap.name, mac: device.mac, id: device.id });
    else if (device instanceof VirtioVsockDevice && recipe.vsock === undefined) recipe.vsock = { cid: Number(device.cid), socketPath: device.socketPath, id: device.id };
    else if (device instanceof VirtioRngDevice && !recipe.rng) recipe.rng = true;
    else recipe.custom.push({ id: device.id, kind: device.kind });
  }
  return recipe;
}
