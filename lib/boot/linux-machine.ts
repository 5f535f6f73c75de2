// A Machine set up to boot Linux directly in 64-bit mode: the kernel image is parsed and validated
// before any VM exists, then loaded with its zero page, E820 map, command line and initrd. Its devices
// are registered with a DeviceManager: the standard set (COM1 as a SerialConsole stream, the i8042,
// the debug-exit port, with ACPI the sleep register) and whatever the caller adds (virtio devices);
// the manager places them and the command line and the DSDT are built from what is registered. With
// several vCPUs an MP table describes them and the IOAPIC, and Linux starts the others with INIT/SIPI.
// Where KVM emulates guest kernel mode (nested PVM) the boot is adjusted as emulated-kernel-mode.ts says.
import { writeAcpiTables } from '../arch/x86_64/acpi/tables';
import { linuxVcpuInit } from '../arch/x86_64/boot-state';
import type { HideableFeature } from '../arch/x86_64/cpuid';
import { buildMptable, MPTABLE_ADDRESS } from '../arch/x86_64/mptable';
import type { VcpuState } from '../arch/x86_64/vcpu-state';
import type { VmState } from '../arch/x86_64/vm-state';
import type { Device, DeviceState } from '../devices/device';
import { AcpiSleepDevice } from '../devices/legacy/acpi-sleep/device';
import { DebugExitDevice } from '../devices/legacy/debug-exit/device';
import { I8042Device } from '../devices/legacy/i8042/device';
import { SerialDevice } from '../devices/legacy/serial/device';
import type { SerialConsole } from '../devices/legacy/serial/serial-console';
import { DeviceManager } from '../devices/manager';
import { ConfigError } from '../kvm/errors';
import { kernelModeEmulated } from '../kvm/host-kind';
import type { GuestMemory } from '../memory/guest-memory';
import { Machine } from '../runner/machine';
import { EMULATION_HIDDEN_FEATURES, hostDecompressed, withEmulationParameters } from './emulated-kernel-mode';
import { type KernelImage, parseKernel } from './kernel-image';
import { type LoadedLinux, loadLinux } from './load-linux';

/** What createLinuxMachine() builds a machine from. */
export interface LinuxMachineConfig {
  /** The kernel's bytes, or the image parseKernel() made of them (so it is parsed once). */
  kernel: Uint8Array | KernelImage;
  /** The initrd's bytes, loaded at the top of low RAM. */
  initrd?: Uint8Array;
  /** The kernel command line; the devices' entries are appended. */
  cmdline: string;
  /** Guest RAM in bytes. */
  memorySize: number;
  /** The number of vCPUs (default 1). */
  vcpus?: number;
  /** The KVM device (default `/dev/kvm`). */
  kvmPath?: string;
  /** CPUID features to hide from the guest (e.g. ones the host cannot run in guest ring 0). */
  hideCpuFeatures?: HideableFeature[];
  /**
   * Devices beyond the standard set (COM1, i8042, debug-exit, ACPI sleep): virtio devices and custom
   * ones. They are placed by the machine's DeviceManager and announced on the command line (and in the
   * DSDT with ACPI).
   */
  devices?: Device[];
  /**
   * Whether KVM here runs guest ring 0 in its instruction emulator (nested PVM); default: detected. When
   * true the boot is adjusted for it (lib/boot/emulated-kernel-mode.ts); false boots exactly as given.
   */
  emulatedKernelMode?: boolean;
  /**
   * Time each vCPU in and out of KVM_RUN for metrics() (`inKvmRunNs`, `outOfKvmRunNs`): two clock reads per
   * exit in the addon (20-60 ns each on the machines measured, more than all other exit counting). Default false.
   */
  timeKvmRun?: boolean;
  /**
   * Describe the machine with ACPI tables (RSDP, XSDT, FADT, MADT, DSDT) as a hardware-reduced
   * platform: Linux then finds the vCPUs and the IOAPIC in the MADT and every device in the DSDT, and
   * can power off (reason 'shutdown'). Default false.
   */
  acpi?: boolean;
  /** Log the pages the guest writes, so a snapshot copies only those (default true). */
  logDirtyPages?: boolean;
}

/** A Linux machine with its devices, booted or restored. */
export interface AssembledMachine {
  machine: Machine;
  /** COM1 as a Duplex stream. */
  console: SerialConsole;
  /** Every device of the machine, placed. */
  devices: DeviceManager;
  /** The command line the kernel was given (config.cmdline plus the devices' entries and adjustments). */
  cmdline: string;
}

/**
 * A Linux-protocol machine ready to start: the Machine, its console, its devices, the loaded kernel and the
 * command line it got.
 */
export interface LinuxMachine extends AssembledMachine {
  /** Where the kernel, initrd, command line and boot tables were put, and the E820 map. */
  loaded: LoadedLinux;
  /** 'elf' for a vmlinux, and for a bzImage the host decompressed; 'bzimage' when it unpacks itself. */
  bootedFormat: 'bzimage' | 'elf';
}

/** What a restore gives instead of a kernel: the saved machine's state. */
export interface RestoredMachineConfig extends Omit<LinuxMachineConfig, 'kernel' | 'initrd' | 'hideCpuFeatures'> {
  /** Guest memory mapped from the snapshot (the machine owns it from here, also on failure). */
  memory: GuestMemory;
  vmState: VmState;
  vcpuStates: VcpuState[];
  /** Each device's saved state, by device id. */
  deviceStates: Readonly<Record<string, DeviceState>>;
  /** Checked against where the devices land now: a restore needs the same ids, windows and lines. */
  placements: readonly { id: string; kind: string; mmioBase?: number; irq?: number }[];
}

/** The standard devices of a Linux machine, then the caller's, registered and placed. */
function machineDevices(config: Pick<LinuxMachineConfig, 'acpi' | 'devices'>): { manager: DeviceManager; serial: SerialDevice; sleep: AcpiSleepDevice | undefined } {
  const manager = new DeviceManager();
  const serial = manager.add(new SerialDevice());
  manager.add(new I8042Device());
  manager.add(new DebugExitDevice());
  const sleep = config.acpi === true ? manager.add(new AcpiSleepDevice()) : undefined;
  for (const device of config.devices ?? []) manager.add(device);
  manager.place();
  return { manager, serial, sleep };
}

/**
 * Creates the machine; the devices in `config.devices` are its from here on (closed on failure too).
 * @throws {@link BootError} when the kernel, initrd or command line cannot be booted.
 * @throws {@link ConfigError} when the memory size, vCPU count or devices are invalid or clash.
 * @throws {@link KvmUnavailableError} and {@link KvmCapabilityError} when KVM is not usable.
 * @throws {@link KvmIoctlError} when creating the VM fails.
 */
export function createLinuxMachine(config: LinuxMachineConfig): LinuxMachine {
  return owningDevices(config.devices, () => buildLinuxMachine(config));
}

/**
 * A machine that goes on from a snapshot: the same standard devices and `config.devices`, placed as
 * they were (checked), their states, the VM's and every vCPU's put back. Nothing is loaded.
 */
export function restoreLinuxMachine(config: RestoredMachineConfig): AssembledMachine {
  return owningDevices(config.devices, () => {
    const vcpuCount = config.vcpus ?? 1;
    if (config.vcpuStates.length !== vcpuCount) {
      config.memory.dispose();
      throw new ConfigError(`${config.vcpuStates.length} saved vCPU states for ${vcpuCount} vCPUs`);
    }
    let prepared: ReturnType<typeof machineDevices>;
    try {
      prepared = machineDevices(config);
      checkPlacements(prepared.manager, config.placements);
      prepared.manager.restoreStates(config.deviceStates);
    } catch (error) {
      config.memory.dispose(); // Machine.create would have owned it
      throw error;
    }
    const { manager, serial } = prepared;
    const machine = Machine.create({
      memorySize: config.memorySize,
      vcpus: vcpuCount,
      irqchip: true,
      emulatedKernelMode: config.emulatedKernelMode ?? kernelModeEmulated(),
      logDirtyPages: config.logDirtyPages ?? true,
      timeKvmRun: config.timeKvmRun ?? false,
      memory: config.memory,
      vmState: config.vmState,
      ...(config.kvmPath !== undefined ? { kvmPath: config.kvmPath } : {}),
      devices: [...manager.devices],
      init: (vcpu) => ({ restore: config.vcpuStates[vcpu] as VcpuState }),
    });
    return { machine, console: serial.console, devices: manager, cmdline: config.cmdline };
  });
}

function checkPlacements(manager: DeviceManager, saved: RestoredMachineConfig['placements']): void {
  const now = manager.devices.map((device) => describePlacement(device));
  const mismatch = now.length !== saved.length || now.some((p, i) => JSON.stringify(p) !== JSON.stringify(saved[i]));
  if (mismatch) throw new ConfigError(`the devices do not land where they were saved: now ${JSON.stringify(now)}, saved ${JSON.stringify(saved)}`);
}

/** A placed device's id, kind, window and line, as a snapshot records them. */
export function describePlacement(device: Device): { id: string; kind: string; mmioBase?: number; irq?: number } {
  const placement = (device as { placement?: { mmio?: { base: number }; irq?: number } }).placement;
  return {
    id: device.id,
    kind: device.kind,
    ...(placement?.mmio !== undefined ? { mmioBase: placement.mmio.base } : {}),
    ...(placement?.irq !== undefined ? { irq: placement.irq } : {}),
  };
}

function owningDevices<T>(devices: readonly Device[] | undefined, build: () => T): T {
  try {
    return build();
  } catch (error) {
    for (const device of devices ?? []) {
      try {
        device.close?.();
      } catch {
        // keep closing the others
      }
    }
    throw error;
  }
}

function buildLinuxMachine(config: LinuxMachineConfig): LinuxMachine {
  const emulated = config.emulatedKernelMode ?? kernelModeEmulated();
  const parsed = config.kernel instanceof Uint8Array ? parseKernel(config.kernel) : config.kernel;
  const image = emulated ? hostDecompressed(parsed) : parsed;
  const { manager, serial, sleep } = machineDevices(config);
  const given = [config.cmdline, manager.kernelCmdline()].filter((part) => part.length > 0).join(' ');
  const cmdline = emulated ? withEmulationParameters(given) : given;
  const hide = [...new Set([...(config.hideCpuFeatures ?? []), ...(emulated ? EMULATION_HIDDEN_FEATURES : [])])];
  const vcpuCount = config.vcpus ?? 1;
  const mptable = buildMptable(vcpuCount);
  let loaded: LoadedLinux | undefined;
  let supportedCpuid: ReturnType<Machine['kvm']['supportedCpuid']> | undefined;
  const machine = Machine.create({
    memorySize: config.memorySize,
    vcpus: vcpuCount,
    irqchip: true,
    emulatedKernelMode: emulated,
    logDirtyPages: config.logDirtyPages ?? true,
    timeKvmRun: config.timeKvmRun ?? false,
    ...(config.kvmPath !== undefined ? { kvmPath: config.kvmPath } : {}),
    devices: [...manager.devices],
    init: (vcpu, memory) => {
      if (loaded === undefined || supportedCpuid === undefined) throw new ConfigError('the machine was started before its kernel was loaded');
      return linuxVcpuInit(memory, vcpu, { entry: loaded.entry, zeroPage: loaded.zeroPage, supportedCpuid, cpuid: { vcpuCount, hide } });
    },
  });
  try {
    supportedCpuid = machine.kvm.supportedCpuid();
    const acpiRsdpAddress = sleep !== undefined ? writeAcpiTables(machine.memory, { vcpus: vcpuCount, deviceNodes: manager.acpiNodes(), sleepPort: sleep.port }) : undefined;
    loaded = loadLinux(machine.memory, image, {
      cmdline,
      ...(config.initrd ? { initrd: config.initrd } : {}),
      ...(acpiRsdpAddress !== undefined ? { acpiRsdpAddress } : {}),
    });
    if (vcpuCount > 1) machine.memory.writeBytes(MPTABLE_ADDRESS, mptable);
  } catch (error) {
    void machine.dispose();
    throw error;
  }
  return { machine, console: serial.console, devices: manager, loaded, cmdline, bootedFormat: image.format };
}
