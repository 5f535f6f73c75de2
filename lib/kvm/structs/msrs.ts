// struct kvm_msrs (u32 nmsrs, u32 pad, entries of {u32 index, u32 reserved, u64 data}) and
// struct kvm_msr_list (u32 nmsrs, u32 indices[]).
import { StructView } from './cursor';

const MSRS_HEADER = 8;
const MSR_ENTRY_SIZE = 16;
const MSR_LIST_HEADER = 4;

/** One MSR: its index and value. */
export interface MsrEntry {
  /** The MSR's index. */
  index: number;
  /** Its value. */
  data: bigint;
}

export function encodeMsrs(entries: readonly MsrEntry[]): Uint8Array {
  const s = new StructView(MSRS_HEADER + entries.length * MSR_ENTRY_SIZE);
  s.setU32(0, entries.length);
  entries.forEach((entry, i) => {
    const at = MSRS_HEADER + i * MSR_ENTRY_SIZE;
    s.setU32(at, entry.index);
    s.setU64(at + 8, entry.data);
  });
  return s.bytes;
}

export function decodeMsrs(bytes: Uint8Array, count: number): MsrEntry[] {
  const s = new StructView(bytes);
  return Array.from({ length: count }, (_, i) => {
    const at = MSRS_HEADER + i * MSR_ENTRY_SIZE;
    return { index: s.u32(at), data: s.u64(at + 8) };
  });
}

export function emptyMsrList(capacity: number): Uint8Array {
  const s = new StructView(MSR_LIST_HEADER + capacity * 4);
  s.setU32(0, capacity);
  return s.bytes;
}

export function decodeMsrList(bytes: Uint8Array): number[] {
  const s = new StructView(bytes);
  const count = s.u32(0);
  return Array.from({ length: count }, (_, i) => s.u32(MSR_LIST_HEADER + i * 4));
}

/** Well-known MSR indices. */
export const Msr = {
  IA32_TSC: 0x10,
  IA32_APIC_BASE: 0x1b,
  IA32_SYSENTER_CS: 0x174,
  IA32_SYSENTER_ESP: 0x175,
  IA32_SYSENTER_EIP: 0x176,
  IA32_MISC_ENABLE: 0x1a0,
  IA32_PAT: 0x277,
  EFER: 0xc0000080,
  STAR: 0xc0000081,
  LSTAR: 0xc0000082,
  CSTAR: 0xc0000083,
  SYSCALL_MASK: 0xc0000084,
  FS_BASE: 0xc0000100,
  GS_BASE: 0xc0000101,
  KERNEL_GS_BASE: 0xc0000102,
  TSC_AUX: 0xc0000103,
} as const;
