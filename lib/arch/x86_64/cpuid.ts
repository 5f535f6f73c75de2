// CPUID for a guest vCPU: the host's supported leaves with this vCPU's APIC id and topology, the
// hypervisor bit set, and optionally features hidden (e.g. ones a host cannot run in guest ring 0).
import type { CpuidEntry } from '../../kvm/structs/cpuid';

const LEAF_FEATURES = 0x1;
const LEAF_EXTENDED_TOPOLOGY = 0xb;
const LEAF_V2_EXTENDED_TOPOLOGY = 0x1f;

const EBX_APIC_ID_SHIFT = 24;
const EBX_LOGICAL_COUNT_SHIFT = 16;
const ECX_HYPERVISOR = 1 << 31;
const EDX_HTT = 1 << 28;

/** Leaf 1 ECX features that can be hidden by name. */
export const Leaf1Ecx = { CX16: 1 << 13, XSAVE: 1 << 26, OSXSAVE: 1 << 27, AVX: 1 << 28 } as const;
export type HideableFeature = keyof typeof Leaf1Ecx;

export interface CpuidOptions {
  vcpu: number;
  vcpuCount: number;
  hide?: readonly HideableFeature[];
}

export function guestCpuid(supported: readonly CpuidEntry[], options: CpuidOptions): CpuidEntry[] {
  const hiddenEcx = (options.hide ?? []).reduce((mask, name) => mask | Leaf1Ecx[name], 0);
  return supported.map((leaf) => {
    const entry = { ...leaf };
    switch (entry.function) {
      case LEAF_FEATURES:
        entry.ebx = ((entry.ebx & 0x0000ffff) | (options.vcpu << EBX_APIC_ID_SHIFT) | (Math.min(options.vcpuCount, 255) << EBX_LOGICAL_COUNT_SHIFT)) >>> 0;
        entry.ecx = ((entry.ecx | ECX_HYPERVISOR) & ~hiddenEcx) >>> 0;
        entry.edx = (options.vcpuCount > 1 ? entry.edx | EDX_HTT : entry.edx & ~EDX_HTT) >>> 0;
        break;
      case LEAF_EXTENDED_TOPOLOGY:
      case LEAF_V2_EXTENDED_TOPOLOGY:
        entry.edx = options.vcpu;
        break;
      default:
        break;
    }
    return entry;
  });
}
