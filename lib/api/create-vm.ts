// createVm(): validates the options, reads and parses the kernel (and initrd), then creates the VM
// with the kernel loaded. Nothing runs until start().
import { createLinuxMachine } from '../boot/linux-machine';
import { kernelModeEmulated } from '../kvm/host-kind';
import { resolveVmConfig, VmConfig } from './config';
import { VmAbortError } from './errors';
import { VirtualMachine } from './virtual-machine';

function abortError(signal: AbortSignal): VmAbortError {
  return new VmAbortError('the VM was aborted before it was created', { cause: signal.reason });
}

export async function createVm(config: VmConfig = {}): Promise<VirtualMachine> {
  if (config?.signal?.aborted) throw abortError(config.signal);
  const resolved = await resolveVmConfig(config);
  if (resolved.signal?.aborted) {
    for (const device of resolved.devices) device.close?.();
    throw abortError(resolved.signal);
  }
  const linux = createLinuxMachine({
    kernel: resolved.kernel,
    ...(resolved.initrd !== undefined ? { initrd: resolved.initrd } : {}),
    cmdline: resolved.cmdline,
    memorySize: resolved.memorySize,
    vcpus: resolved.vcpus,
    devices: resolved.devices,
    ...(resolved.emulatedKernelMode !== undefined ? { emulatedKernelMode: resolved.emulatedKernelMode } : {}),
    acpi: resolved.acpi,
  });
  const origin = {
    machine: {
      memorySize: resolved.memorySize,
      vcpus: resolved.vcpus,
      acpi: resolved.acpi,
      cmdline: linux.cmdline,
      emulatedKernelMode: resolved.emulatedKernelMode ?? kernelModeEmulated(),
    },
  };
  return new VirtualMachine(linux, origin, resolved.signal);
}
