// The public VM API: createVm() → VirtualMachine.
export { createVm } from './create-vm';
export { VirtualMachine } from './virtual-machine';
export type { VirtualMachineEvents } from './virtual-machine';
export type { VmConfig } from './config';
export type { DiskOptions, NetworkOptions, VsockOptions, DeviceOptions } from './device-options';
export { DEFAULT_MEMORY_MIB, DEFAULT_VCPUS, MIN_MEMORY_MIB, MAX_MEMORY_MIB } from './config';
export type { VmExit } from './vm-exit';
export { describeVmExit } from './vm-exit';
export { VmConfigError, VmFileError, VmAbortError } from './errors';
export { restoreVm } from './restore-vm';
export type { RestoreOptions, RestoreSource, RestoreStep } from './restore-vm';
export { VmSnapshot } from './snapshot/vm-snapshot';
export { SnapshotError, type SnapshotErrorCode } from './snapshot/errors';
export type { SnapshotFiles } from './snapshot/files';
