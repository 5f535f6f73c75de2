// KVM ABI numbers (linux/kvm.h), named once.

export const KVM_API_VERSION = 12;

export const KvmCap = {
  IRQCHIP: 0,
  HLT: 1,
  USER_MEMORY: 3,
  SET_TSS_ADDR: 4,
  EXT_CPUID: 7,
  NR_VCPUS: 9,
  NR_MEMSLOTS: 10,
  PIT: 11,
  MP_STATE: 14,
  COALESCED_MMIO: 15,
  SYNC_MMU: 16,
  USER_NMI: 22,
  SET_IDENTITY_MAP_ADDR: 37,
  IRQFD: 32,
  PIT2: 33,
  IOEVENTFD: 36,
  ADJUST_CLOCK: 39,
  VCPU_EVENTS: 41,
  XSAVE: 55,
  XCRS: 56,
  MAX_VCPUS: 66,
  SIGNAL_MSI: 77,
  READONLY_MEM: 81,
  IMMEDIATE_EXIT: 136,
  SPLIT_IRQCHIP: 121,
  X2APIC_API: 129,
  COALESCED_PIO: 162,
  DIRTY_LOG_RING: 192,
} as const;
export type KvmCapName = keyof typeof KvmCap;

/** Capabilities the VMM core cannot work without. */
export const REQUIRED_CAPABILITIES: readonly KvmCapName[] = ['USER_MEMORY', 'SET_TSS_ADDR', 'IMMEDIATE_EXIT', 'MP_STATE', 'VCPU_EVENTS'];

export const KvmExit = {
  UNKNOWN: 0,
  EXCEPTION: 1,
  IO: 2,
  HYPERCALL: 3,
  DEBUG: 4,
  HLT: 5,
  MMIO: 6,
  IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  SET_TPR: 11,
  TPR_ACCESS: 12,
  NMI: 16,
  INTERNAL_ERROR: 17,
  SYSTEM_EVENT: 24,
  IOAPIC_EOI: 26,
  HYPERV: 27,
  X86_RDMSR: 29,
  X86_WRMSR: 30,
  DIRTY_RING_FULL: 31,
  AP_RESET_HOLD: 32,
  X86_BUS_LOCK: 33,
  NOTIFY: 37,
} as const;

export const KVM_EXIT_IO_IN = 0;
export const KVM_EXIT_IO_OUT = 1;

export const KvmSystemEvent = { SHUTDOWN: 1, RESET: 2, CRASH: 3, WAKEUP: 4, SUSPEND: 5, SEV_TERM: 6 } as const;

export const KvmInternalError = { EMULATION: 1, SIMUL_EX: 2, DELIVERY_EV: 3, UNEXPECTED_EXIT_REASON: 4 } as const;

export const KvmMpState = { RUNNABLE: 0, UNINITIALIZED: 1, INIT_RECEIVED: 2, HALTED: 3, SIPI_RECEIVED: 4 } as const;

export const KVM_MEM_LOG_DIRTY_PAGES = 1 << 0;
export const KVM_MEM_READONLY = 1 << 1;

export const KVM_IRQFD_FLAG_DEASSIGN = 1 << 0;
export const KVM_IOEVENTFD_FLAG_DATAMATCH = 1 << 0;
export const KVM_IOEVENTFD_FLAG_PIO = 1 << 1;
export const KVM_IOEVENTFD_FLAG_DEASSIGN = 1 << 2;

export const KVM_PIT_SPEAKER_DUMMY = 1;
