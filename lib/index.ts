// node-vmm's public API: what an embedding app needs (createVm, VirtualMachine, the device options,
// the errors), what a custom device needs (the Device interface, VirtioMmioDevice and its back-end
// helpers, the low-level Machine), and the KVM objects for the lowest level.

// The high-level API: createVm() boots a Linux kernel (default: the bundled guest) in a VirtualMachine.
export * from './api';
export { bundledGuestElfPath, bundledGuestPath, BUNDLED_GUEST_PROMPT, BUNDLED_GUEST_READY_MARKER, BUNDLED_GUEST_SELFTEST_CMDLINE } from './guest/bundled';

// Errors: everything node-vmm throws is a VmmError.
export { VmmError, ConfigError, KvmIoctlError, KvmUnavailableError, KvmCapabilityError, GuestMemoryError, BusError, VcpuError, ClosedError, DeviceError, ArgumentError } from './kvm/errors';
export { BootError } from './boot/errors';
export type { BootErrorCode } from './boot/errors';
export { VirtqueueError, type VirtqueueErrorCode } from './devices/virtio/transport/errors';
export { IoThreadError, configureIoThreads, ioThreadCount, warmIoThreads, DEFAULT_IO_THREADS } from './devices/io-threads/pool';

// Devices: the model every device follows, and the built-in ones.
export type { Device, DeviceNeeds, DevicePlacement, DeviceState, AddressRange } from './devices/device';
export { PlacedDevice } from './devices/device';
export { DeviceManager } from './devices/manager';
export { DeviceCounters } from './devices/counters';
export { VirtioMmioDevice, type VirtioMmioDeviceOptions } from './devices/virtio/transport/mmio-device';
export type { VirtioBackend, BackendContext, BackendModuleSpec, BackendFactory } from './devices/virtio/transport/backend';
export type { VirtioDeviceDescription } from './devices/virtio/transport/mmio-state';
export type { DescriptorChain } from './devices/virtio/transport/split-virtqueue';
export { openQueues, signalUsed, deviceBroken } from './devices/virtio/transport/backend-support';
export { VirtioDeviceId, VirtioFeature } from './devices/virtio/transport/mmio-registers';
export { VirtioBlkDevice, type VirtioBlkOptions } from './devices/virtio/blk/device';
export { VirtioNetDevice, type VirtioNetOptions } from './devices/virtio/net/device';
export { VirtioRngDevice } from './devices/virtio/rng/device';
export { VirtioVsockDevice, type VirtioVsockOptions } from './devices/virtio/vsock/device';
export { SerialDevice, type SerialDeviceOptions } from './devices/legacy/serial/device';
export type { SerialConsole } from './devices/legacy/serial/serial-console';
export { I8042Device } from './devices/legacy/i8042/device';
export { DebugExitDevice } from './devices/legacy/debug-exit/device';
export { AcpiSleepDevice } from './devices/legacy/acpi-sleep/device';
export { TapDevice } from './net/tap';

// Booting Linux on a Machine (what createVm uses).
export { createLinuxMachine } from './boot/linux-machine';
export type { LinuxMachine, LinuxMachineConfig } from './boot/linux-machine';
export { parseKernel } from './boot/kernel-image';
export type { KernelImage } from './boot/kernel-image';

// The low level: a Machine with vCPU workers, its devices' contract, guest memory and the buses.
export { Machine, MAX_VCPUS } from './runner/machine';
export { configureVcpuWorkers, warmVcpuWorkers, vcpuWorkerPoolSize, DEFAULT_VCPU_WORKERS } from './runner/worker-pool';
export type { MachineConfig, MachineEvents } from './runner/machine';
export type { MachineDevice, MachineAttachContext, VmWiring } from './runner/machine-device';
export type { MachineExit, MachineExitReason } from './runner/machine-exit';
export type { DeviceContext, DeviceSetup } from './runner/device-context';
export type { DeviceModuleSpec, UnhandledIoPolicy, VcpuEnd, VcpuEndReason, DeviceExit } from './runner/messages';
export type { VcpuInit, SregsPatch } from './arch/x86_64/vcpu-init';
export { enterLongMode, flatRealMode } from './arch/x86_64/long-mode';
export { GuestMemory } from './memory/guest-memory';
export type { RegionDescriptor, GuestRegion, AllocateOptions } from './memory/guest-memory';
export { IoBus } from './bus/io-bus';
export type { BusDevice, BusRange } from './bus/io-bus';

// KVM itself: Kvm -> Vm -> Vcpu, with typed exits and register structs.
export { Kvm, DEFAULT_KVM_PATH } from './kvm/kvm';
export { Vm } from './kvm/vm';
export type { MemoryRegionOptions, IoEventFdOptions, ClockData } from './kvm/vm';
export { Vcpu } from './kvm/vcpu';
export { decodeExit, exitName } from './kvm/exits';
export type { VcpuExit, VcpuExitKind, IoExit, MmioExit, SystemEventType } from './kvm/exits';
export type { Regs, RegisterName } from './kvm/structs/regs';
export type { Sregs, Segment, DescriptorTable, SegmentName } from './kvm/structs/sregs';
export type { Fpu } from './kvm/structs/fpu';
export type { MsrEntry } from './kvm/structs/msrs';
export type { CpuidEntry } from './kvm/structs/cpuid';
export type { VcpuEvents } from './kvm/structs/vcpu-events';
export type { Xcr } from './kvm/structs/xcrs';
