// Everything an x86-64 vCPU is, for a snapshot: CPUID, every MSR KVM lists, the general and special
// registers, the FPU and XSAVE area, XCRs, debug registers, the LAPIC, the MP state and the pending
// events, read and put back on the vCPU's own thread. The structs travel as the kernel lays them out
// (byte for byte), so fields this VMM does not model survive. Restore follows Firecracker's order
// (vstate/vcpu.rs): CPUID before MSRs (KVM checks MSRs against CPUID), MSRs before the registers,
// the LAPIC after the special registers (its base is an MSR and in sregs), events last.
import { ConfigError } from '../../kvm/errors';
import type { CpuidEntry } from '../../kvm/structs/cpuid';
import type { MsrEntry } from '../../kvm/structs/msrs';
import type { Vcpu, VcpuStateStruct } from '../../kvm/vcpu';

export interface VcpuState {
  cpuid: CpuidEntry[];
  msrs: MsrEntry[];
  mpState: number;
  /** Raw kernel structs by name. */
  structs: Record<VcpuStateStruct, Uint8Array>;
}

const SAVED_STRUCTS: readonly VcpuStateStruct[] = ['regs', 'sregs', 'fpu', 'xsave', 'xcrs', 'debugregs', 'lapic', 'events'];
/** Restore order: sregs before the LAPIC, FPU before XSAVE (XSAVE holds the FPU too and wins); then MP state, then events. */
const RESTORE_ORDER: readonly VcpuStateStruct[] = ['regs', 'sregs', 'fpu', 'xsave', 'xcrs', 'debugregs', 'lapic'];

/**
 * Reads every listed MSR KVM lets us read. KVM stops a KVM_GET_MSRS at the first MSR it refuses (some
 * listed ones depend on CPUID features the guest does not have); those are skipped one at a time.
 */
function readMsrs(vcpu: Vcpu, indices: readonly number[]): MsrEntry[] {
  const entries: MsrEntry[] = [];
  let rest = [...indices];
  while (rest.length > 0) {
    const read = vcpu.getMsrs(rest);
    entries.push(...read);
    rest = rest.slice(read.length + 1); // skip the one it refused
  }
  return entries;
}

/** The vCPU's whole state (call on its thread, outside KVM_RUN, after pending I/O completed). */
export function saveVcpuState(vcpu: Vcpu, msrIndices: readonly number[]): VcpuState {
  const structs = {} as Record<VcpuStateStruct, Uint8Array>;
  for (const kind of SAVED_STRUCTS) structs[kind] = vcpu.getStateBytes(kind);
  return { cpuid: vcpu.getCpuid(), msrs: readMsrs(vcpu, msrIndices), mpState: vcpu.getMpState(), structs };
}

/** Puts a saved state on a freshly created vCPU (on its thread, before it first runs). */
export function restoreVcpuState(vcpu: Vcpu, state: VcpuState): void {
  for (const kind of SAVED_STRUCTS) {
    if (!(state.structs[kind] instanceof Uint8Array)) throw new ConfigError(`saved vCPU state has no ${kind}`);
  }
  vcpu.setCpuid(state.cpuid);
  vcpu.setMsrs(state.msrs);
  for (const kind of RESTORE_ORDER) vcpu.setStateBytes(kind, state.structs[kind]);
  vcpu.setMpState(state.mpState);
  vcpu.setStateBytes('events', state.structs.events);
}
