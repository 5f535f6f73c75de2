// Finishing a guest `int3` that KVM could not run. Where guest ring 0 is run by KVM's instruction
// emulator (nested PVM), an int3 there ends KVM_RUN with an emulation failure and RIP still at the
// int3, although the instruction itself is simple: the VMM steps past it and injects #BP, which is
// what the CPU would have done. Linux needs this for its boot-time int3 self-test and for live code
// patching (text_poke_bp). Only for such hosts: on VT-x/AMD-V an int3 never exits like this, and
// KVM there injects #BP as a software exception whose RIP is still at the instruction.
// Only ring 0 is repaired: a ring-3 int3 runs natively and never gets here.
import { KvmInternalError } from '../../kvm/constants';
import type { VcpuExit } from '../../kvm/exits';
import type { Vcpu } from '../../kvm/vcpu';
import type { GuestMemory } from '../../memory/guest-memory';

const INT3_OPCODE = 0xcc;
const BREAKPOINT_VECTOR = 3;
/** kvm_run.emulation_failure.flags: the instruction bytes that failed follow (insn_size, insn_bytes[15]). */
const EMULATION_FLAG_INSTRUCTION_BYTES = 1n;
const FLAGS_WORD = 0;
const INSTRUCTION_WORD = 1;
const CPL_MASK = 3;

type InternalErrorExit = Extract<VcpuExit, { kind: 'internal-error' }>;

/** The first byte of the instruction that failed, from the exit's own copy when KVM supplied one. */
function firstInstructionByte(exit: InternalErrorExit, csBase: bigint, vcpu: Vcpu, memory: GuestMemory, rip: bigint): number | undefined {
  const flags = exit.data[FLAGS_WORD];
  const bytes = exit.data[INSTRUCTION_WORD];
  if (flags !== undefined && bytes !== undefined && (flags & EMULATION_FLAG_INSTRUCTION_BYTES) !== 0n) {
    const size = Number(bytes & 0xffn);
    return size > 0 ? Number((bytes >> 8n) & 0xffn) : undefined;
  }
  const linear = csBase + rip;
  const translation = vcpu.translate(linear);
  if (!translation.valid) return undefined;
  const physical = Number(translation.physicalAddress);
  return memory.contains(physical) ? memory.readU8(physical) : undefined;
}

/**
 * True when the exit was an emulation failure on an int3 and the vCPU now continues as the CPU would
 * have (RIP past the int3, #BP injected); false leaves the exit to be reported as a fault.
 */
export function completeInt3(exit: VcpuExit, vcpu: Vcpu, memory: GuestMemory): boolean {
  if (exit.kind !== 'internal-error' || exit.suberror !== KvmInternalError.EMULATION) return false;
  const sregs = vcpu.getSregs();
  if ((sregs.cs.selector & CPL_MASK) !== 0) return false;
  const regs = vcpu.getRegs();
  if (firstInstructionByte(exit, sregs.cs.base, vcpu, memory, regs.rip) !== INT3_OPCODE) return false;
  vcpu.setRegs({ ...regs, rip: regs.rip + 1n });
  const events = vcpu.getVcpuEvents();
  vcpu.setVcpuEvents({
    ...events,
    // flags 0: leave NMI, SIPI, shadow and SMM state as they are; only the exception is new.
    flags: 0,
    exception: { injected: 1, nr: BREAKPOINT_VECTOR, hasErrorCode: 0, pending: 0, errorCode: 0 },
  });
  return true;
}
