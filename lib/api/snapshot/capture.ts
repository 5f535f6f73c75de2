// Capturing a paused machine: every vCPU's state (read on its own thread), the VM's interrupt
// controllers, PIT and clock, every device's state, and which guest pages hold data.
import { describePlacement } from '../../boot/linux-machine';
import type { DeviceManager } from '../../devices/manager';
import type { Machine } from '../../runner/machine';
import { memoryFileLayout, type PageTracker } from './memory-image';
import type { SnapshotState, VmRecipe } from './state';

export interface CaptureSource {
  machine: Machine;
  devices: DeviceManager;
  recipe: VmRecipe;
  tracker: PageTracker;
}

export async function captureState(source: CaptureSource): Promise<SnapshotState> {
  const { machine } = source;
  const vcpus = await machine.saveVcpuStates();
  const vm = machine.saveVmState();
  const devices = await source.devices.saveStates();
  source.tracker.update(machine.memory, machine.takeDirtyPages());
  return {
    recipe: source.recipe,
    placements: source.devices.devices.map((device) => describePlacement(device)),
    devices,
    vm,
    vcpus,
    memory: memoryFileLayout(machine.memory, source.tracker),
  };
}
