// struct kvm_cpuid2: u32 nent, u32 pad, then entries of kvm_cpuid_entry2.
import { StructView } from './cursor';

const CPUID_HEADER = 8;
const CPUID_ENTRY_SIZE = 40;
/** KVM's upper bound on the number of CPUID entries. */
export const MAX_CPUID_ENTRIES = 256;

/** kvm_cpuid_entry2.flags: the leaf has sub-leaves selected by ECX (index). */
export const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1;

/** One CPUID leaf as KVM holds it (`kvm_cpuid_entry2`). */
export interface CpuidEntry {
  /** The leaf (EAX in). */
  function: number;
  /** The subleaf (ECX in). */
  index: number;
  /** KVM_CPUID_FLAG_* flags. */
  flags: number;
  /** EAX out. */
  eax: number;
  /** EBX out. */
  ebx: number;
  /** ECX out. */
  ecx: number;
  /** EDX out. */
  edx: number;
}

export function emptyCpuid(capacity: number): Uint8Array {
  const s = new StructView(CPUID_HEADER + capacity * CPUID_ENTRY_SIZE);
  s.setU32(0, capacity);
  return s.bytes;
}

export function encodeCpuid(entries: readonly CpuidEntry[]): Uint8Array {
  const s = new StructView(emptyCpuid(entries.length));
  entries.forEach((entry, i) => {
    const at = CPUID_HEADER + i * CPUID_ENTRY_SIZE;
    s.setU32(at, entry.function);
    s.setU32(at + 4, entry.index);
    s.setU32(at + 8, entry.flags);
    s.setU32(at + 12, entry.eax);
    s.setU32(at + 16, entry.ebx);
    s.setU32(at + 20, entry.ecx);
    s.setU32(at + 24, entry.edx);
  });
  return s.bytes;
}

/** Decodes the entries the kernel reported (it rewrites nent to the number it filled). */
export function decodeCpuid(bytes: Uint8Array): CpuidEntry[] {
  const s = new StructView(bytes);
  const count = s.u32(0);
  return Array.from({ length: count }, (_, i) => {
    const at = CPUID_HEADER + i * CPUID_ENTRY_SIZE;
    return {
      function: s.u32(at),
      index: s.u32(at + 4),
      flags: s.u32(at + 8),
      eax: s.u32(at + 12),
      ebx: s.u32(at + 16),
      ecx: s.u32(at + 20),
      edx: s.u32(at + 24),
    };
  });
}
