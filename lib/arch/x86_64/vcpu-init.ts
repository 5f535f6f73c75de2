// The initial state of a vCPU as the VMM describes it (a boot protocol's entry state, a test guest's),
// and how it is applied to a freshly created vCPU on its own thread.
import { wireLapicLint } from './lapic';
import type { CpuidEntry } from '../../kvm/structs/cpuid';
import type { Fpu } from '../../kvm/structs/fpu';
import type { MsrEntry } from '../../kvm/structs/msrs';
import type { Regs } from '../../kvm/structs/regs';
import { SEGMENT_NAMES, type Segment, type SegmentName, type Sregs } from '../../kvm/structs/sregs';
import type { Vcpu } from '../../kvm/vcpu';
import { restoreVcpuState, type VcpuState } from './vcpu-state';

/** Special registers to change: segments merge field by field, everything else is replaced. */
export type SregsPatch = { [K in SegmentName]?: Partial<Segment> } & Partial<Omit<Sregs, SegmentName>>;

/** Initial vCPU state, applied in the worker right after the vCPU is created. */
export interface VcpuInit {
  /** General registers to set (the rest keep KVM's reset values). */
  regs?: Partial<Regs>;
  /** Special registers to change. */
  sregs?: SregsPatch;
  /** The FPU state to set. */
  fpu?: Fpu;
  /** MSRs to set. */
  msrs?: MsrEntry[];
  /** The CPUID the vCPU reports (default: the host's supported set, filtered). */
  cpuid?: CpuidEntry[];
  /** The multiprocessing state (e.g. runnable, or waiting for SIPI). */
  mpState?: number;
  /** Wire LAPIC LINT0 to ExtINT and LINT1 to NMI (needs the in-kernel irqchip). */
  wireLapicLint?: boolean;
  /** A whole saved state (a snapshot's): put back as it is, and everything above is ignored. */
  restore?: VcpuState;
}

export function applySregsPatch(current: Sregs, patch: SregsPatch): Sregs {
  const next: Sregs = { ...current, ...patch } as Sregs;
  for (const name of SEGMENT_NAMES) {
    const segment = patch[name];
    if (segment !== undefined) next[name] = { ...current[name], ...segment };
  }
  return next;
}

/** Applies `init` to a vCPU just created (CPUID first: KVM wants it before the vCPU runs or takes MSRs). */
export function applyVcpuInit(vcpu: Vcpu, init: VcpuInit): void {
  if (init.restore !== undefined) {
    restoreVcpuState(vcpu, init.restore);
    return;
  }
  if (init.cpuid !== undefined) vcpu.setCpuid(init.cpuid);
  if (init.sregs !== undefined) vcpu.setSregs(applySregsPatch(vcpu.getSregs(), init.sregs));
  if (init.msrs !== undefined) vcpu.setMsrs(init.msrs);
  if (init.fpu !== undefined) vcpu.setFpu(init.fpu);
  if (init.regs !== undefined) vcpu.setRegs({ ...vcpu.getRegs(), ...init.regs });
  if (init.mpState !== undefined) vcpu.setMpState(init.mpState);
  if (init.wireLapicLint) vcpu.setLapic(wireLapicLint(vcpu.getLapic()));
}
