// A Machine set up to boot Linux directly in 64-bit mode: the kernel image is parsed and validated
// before any VM exists, then loaded with its zero page, E820 map, command line and initrd; COM1
// (as a SerialConsole stream), the i8042 and the debug-exit port are attached. With several vCPUs an
// MP table describes them and the IOAPIC, and Linux starts the others with INIT/SIPI; with one vCPU
// there is no MP table and Linux keeps the PIC. virtio-mmio devices are listed on the command line the
// way Linux's virtio_mmio driver reads them (the bundled guest reads the same parameter). Where KVM
// emulates guest kernel mode (nested PVM) the boot is adjusted as emulated-kernel-mode.ts describes.
import { HideableFeature } from '../arch/x86_64/cpuid';
import { linuxVcpuInit } from '../arch/x86_64/boot-state';
import { buildMptable, MPTABLE_ADDRESS } from '../arch/x86_64/mptable';
import { writeAcpiTables } from '../arch/x86_64/acpi/tables';
import { ACPI_SLEEP_PORT } from '../devices/legacy/acpi-sleep';
import * as path from 'node:path';
import { DEBUG_EXIT_PORT } from '../devices/legacy/debug-exit';
import type { VirtioMmioDevice } from '../devices/virtio/transport/mmio-device';
import { createI8042State } from '../devices/legacy/i8042';
import { COM1_IRQ, COM1_PORT } from '../devices/legacy/serial/registers';
import { SerialConsole } from '../devices/legacy/serial/serial-console';
import { createSerialState } from '../devices/legacy/serial/serial-state';
import { kernelModeEmulated } from '../kvm/host-kind';
import { Machine } from '../runner/machine';
import { EMULATION_HIDDEN_FEATURES, hostDecompressed, withEmulationParameters } from './emulated-kernel-mode';
import { parseKernel } from './kernel-image';
import { LoadedLinux, loadLinux } from './load-linux';

const DEVICE_DIR = path.join(__dirname, '..', 'devices', 'legacy');

export interface LinuxMachineConfig {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  cmdline: string;
  memorySize: number;
  vcpus?: number;
  kvmPath?: string;
  /** CPUID features to hide from the guest (e.g. ones the host cannot run in guest ring 0). */
  hideCpuFeatures?: HideableFeature[];
  /** virtio-mmio devices: wired into the VM and announced on the command line (virtio_mmio.device=). */
  virtio?: VirtioMmioDevice[];
  /**
   * Whether KVM here runs guest ring 0 in its instruction emulator (nested PVM); default: detected. When
   * true the boot is adjusted for it (lib/boot/emulated-kernel-mode.ts); false boots exactly as given.
   */
  emulatedKernelMode?: boolean;
  /**
   * Describe the machine with ACPI tables (RSDP, XSDT, FADT, MADT, DSDT) as a hardware-reduced
   * platform: Linux then finds the vCPUs and the IOAPIC in the MADT and COM1, the i8042 and every
   * virtio-mmio device in the DSDT, and can power off (reason 'shutdown'). Default false.
   */
  acpi?: boolean;
}

export interface LinuxMachine {
  machine: Machine;
  console: SerialConsole;
  loaded: LoadedLinux;
  /** The command line the kernel was given (config.cmdline plus virtio devices and adjustments). */
  cmdline: string;
  /** 'elf' for a vmlinux, and for a bzImage the host decompressed; 'bzimage' when it unpacks itself. */
  bootedFormat: 'bzimage' | 'elf';
}

export function createLinuxMachine(config: LinuxMachineConfig): LinuxMachine {
  const emulated = config.emulatedKernelMode ?? kernelModeEmulated();
  const parsed = parseKernel(config.kernel);
  const image = emulated ? hostDecompressed(parsed) : parsed;
  const virtio = config.virtio ?? [];
  const given = [config.cmdline, ...virtio.map((device) => device.kernelCmdline)].filter((part) => part.length > 0).join(' ');
  const cmdline = emulated ? withEmulationParameters(given) : given;
  const hide = [...new Set([...(config.hideCpuFeatures ?? []), ...(emulated ? EMULATION_HIDDEN_FEATURES : [])])];
  const serialState = createSerialState();
  const vcpuCount = config.vcpus ?? 1;
  const mptable = buildMptable(vcpuCount);
  let loaded: LoadedLinux | undefined;
  const machine = Machine.create({
    memorySize: config.memorySize,
    vcpus: vcpuCount,
    irqchip: true,
    emulatedKernelMode: emulated,
    ...(config.kvmPath !== undefined ? { kvmPath: config.kvmPath } : {}),
    devices: [
      { module: path.join(DEVICE_DIR, 'serial', 'serial-module.js'), args: { state: serialState, port: COM1_PORT, irq: COM1_IRQ } },
      { module: path.join(DEVICE_DIR, 'i8042.js'), args: { state: createI8042State() } },
      { module: path.join(DEVICE_DIR, 'debug-exit.js'), args: { port: DEBUG_EXIT_PORT } },
      ...(config.acpi === true ? [{ module: path.join(DEVICE_DIR, 'acpi-sleep.js'), args: { port: ACPI_SLEEP_PORT } }] : []),
      ...virtio.map((device) => device.moduleSpec),
    ],
    init: (vcpu, memory) => {
      if (loaded === undefined) throw new Error('the kernel is loaded before the machine starts');
      return linuxVcpuInit(memory, vcpu, {
        entry: loaded.entry,
        zeroPage: loaded.zeroPage,
        supportedCpuid,
        cpuid: { vcpuCount, hide },
      });
    },
  });
  const supportedCpuid = machine.kvm.supportedCpuid();
  try {
    const acpiRsdpAddress =
      config.acpi === true
        ? writeAcpiTables(machine.memory, { vcpus: vcpuCount, virtio, sleepPort: ACPI_SLEEP_PORT })
        : undefined;
    loaded = loadLinux(machine.memory, image, {
      cmdline,
      ...(config.initrd ? { initrd: config.initrd } : {}),
      ...(acpiRsdpAddress !== undefined ? { acpiRsdpAddress } : {}),
    });
    if (vcpuCount > 1) machine.memory.writeBytes(MPTABLE_ADDRESS, mptable);
    for (const device of virtio) device.attach(machine);
  } catch (error) {
    void machine.dispose();
    throw error;
  }
  return { machine, console: new SerialConsole(machine, serialState, COM1_IRQ), loaded, cmdline, bootedFormat: image.format };
}
