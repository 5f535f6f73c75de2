// Typed entry points to the addon's table-driven ioctls, with errno errors turned into KvmIoctlError.
import { native } from '../native/binding';
import { nativeCall, VmmError } from './errors';

export type StructIoctlName =
  | 'KVM_GET_SUPPORTED_CPUID'
  | 'KVM_GET_MSR_INDEX_LIST'
  | 'KVM_GET_MSR_FEATURE_INDEX_LIST'
  | 'KVM_SET_IDENTITY_MAP_ADDR'
  | 'KVM_IRQ_LINE'
  | 'KVM_IRQ_LINE_STATUS'
  | 'KVM_IRQFD'
  | 'KVM_IOEVENTFD'
  | 'KVM_GET_CLOCK'
  | 'KVM_SET_CLOCK'
  | 'KVM_CREATE_PIT2'
  | 'KVM_GET_PIT2'
  | 'KVM_SET_PIT2'
  | 'KVM_GET_IRQCHIP'
  | 'KVM_SET_IRQCHIP'
  | 'KVM_SIGNAL_MSI'
  | 'KVM_ENABLE_CAP'
  | 'KVM_GET_REGS'
  | 'KVM_SET_REGS'
  | 'KVM_GET_SREGS'
  | 'KVM_SET_SREGS'
  | 'KVM_GET_FPU'
  | 'KVM_SET_FPU'
  | 'KVM_GET_MSRS'
  | 'KVM_SET_MSRS'
  | 'KVM_GET_CPUID2'
  | 'KVM_SET_CPUID2'
  | 'KVM_GET_LAPIC'
  | 'KVM_SET_LAPIC'
  | 'KVM_GET_MP_STATE'
  | 'KVM_SET_MP_STATE'
  | 'KVM_GET_VCPU_EVENTS'
  | 'KVM_SET_VCPU_EVENTS'
  | 'KVM_GET_XSAVE'
  | 'KVM_SET_XSAVE'
  | 'KVM_GET_XCRS'
  | 'KVM_SET_XCRS'
  | 'KVM_INTERRUPT'
  | 'KVM_TRANSLATE'
  | 'KVM_SET_GUEST_DEBUG'
  | 'KVM_KVMCLOCK_CTRL'
  | 'KVM_GET_DEBUGREGS'
  | 'KVM_SET_DEBUGREGS';

export type ValueIoctlName =
  | 'KVM_GET_API_VERSION'
  | 'KVM_CHECK_EXTENSION'
  | 'KVM_GET_VCPU_MMAP_SIZE'
  | 'KVM_SET_TSS_ADDR'
  | 'KVM_CREATE_IRQCHIP'
  | 'KVM_NMI';

function structEntry(name: StructIoctlName): { id: number; size: number } {
  const entry = native().ioctls.structs[name];
  if (entry === undefined) throw new VmmError(`the native addon does not know ${name}; rebuild it`);
  return entry;
}

/** The exact struct size the kernel header gives (the entry size for variable-length structs). */
export function structSize(name: StructIoctlName): number {
  return structEntry(name).size;
}

export function structIoctl(fd: number, name: StructIoctlName, bytes: Uint8Array): number {
  const { id } = structEntry(name);
  return nativeCall(() => native().ioctlStruct(fd, id, bytes));
}

export function valueIoctl(fd: number, name: ValueIoctlName, arg: number | bigint = 0): number {
  const id = native().ioctls.values[name];
  if (id === undefined) throw new VmmError(`the native addon does not know ${name}; rebuild it`);
  return nativeCall(() => native().ioctlValue(fd, id, arg));
}
