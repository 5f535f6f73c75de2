// The initial vCPU state for a direct 64-bit Linux entry (boot protocol "64-bit boot"): long mode,
// RSI = zero page, a stack below it, boot MSRs, x87/SSE defaults and the LAPIC's LINT pins wired.
import type { CpuidEntry } from '../../kvm/structs/cpuid';
import { defaultFpu } from '../../kvm/structs/fpu';
import { Msr, MsrEntry } from '../../kvm/structs/msrs';
import type { GuestMemory } from '../../memory/guest-memory';
import type { VcpuInit } from './vcpu-init';
import { CpuidOptions, guestCpuid } from './cpuid';
import { BOOT_STACK_POINTER } from './layout';
import { enterLongMode } from './long-mode';

/** IA32_MISC_ENABLE bit 0: fast string operations. */
const MISC_ENABLE_FAST_STRING = 1n;

export const BOOT_MSRS: readonly MsrEntry[] = [
  { index: Msr.IA32_SYSENTER_CS, data: 0n },
  { index: Msr.IA32_SYSENTER_ESP, data: 0n },
  { index: Msr.IA32_SYSENTER_EIP, data: 0n },
  { index: Msr.STAR, data: 0n },
  { index: Msr.CSTAR, data: 0n },
  { index: Msr.KERNEL_GS_BASE, data: 0n },
  { index: Msr.SYSCALL_MASK, data: 0n },
  { index: Msr.LSTAR, data: 0n },
  { index: Msr.IA32_TSC, data: 0n },
  { index: Msr.IA32_MISC_ENABLE, data: MISC_ENABLE_FAST_STRING },
];

export interface LinuxBootState {
  entry: bigint;
  zeroPage: number;
  supportedCpuid: readonly CpuidEntry[];
  cpuid: Omit<CpuidOptions, 'vcpu'>;
}

/** The boot vCPU (0) enters the kernel; the others wait for INIT/SIPI with only CPUID and MSRs set. */
export function linuxVcpuInit(memory: GuestMemory, vcpu: number, boot: LinuxBootState): VcpuInit {
  const common: VcpuInit = {
    cpuid: guestCpuid(boot.supportedCpuid, { ...boot.cpuid, vcpu }),
    msrs: [...BOOT_MSRS],
    fpu: defaultFpu(),
    wireLapicLint: true,
  };
  if (vcpu !== 0) return common;
  return {
    ...common,
    sregs: enterLongMode(memory),
    regs: { rip: boot.entry, rsi: BigInt(boot.zeroPage), rsp: BigInt(BOOT_STACK_POINTER), rbp: BigInt(BOOT_STACK_POINTER), rflags: 0x2n },
  };
}
