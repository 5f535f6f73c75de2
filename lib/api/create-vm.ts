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

/**
 * Boots a Linux-protocol kernel (by default the bundled guest) in a new VM, which runs once started.
 * @throws {@link VmConfigError} when an option is invalid (its `field` names it).
 * @throws {@link VmFileError} when a kernel, initrd or disk file cannot be read.
 * @throws {@link BootError} when the kernel cannot be booted.
 * @throws {@link VmAbortError} when `signal` is already aborted.
 * @throws {@link KvmUnavailableError} and {@link KvmCapabilityError} when KVM is not usable.
 */
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
    timeKvmRun: resolved.timeKvmRun,
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
