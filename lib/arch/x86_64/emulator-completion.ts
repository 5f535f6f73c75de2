// Finishing guest instructions that KVM's instruction emulator gives up on. Where guest ring 0 is run
// by that emulator (nested PVM), a few simple instructions end KVM_RUN with an emulation failure and
// RIP still at the instruction. For those whose effect the CPU defines from state the VMM can read,
// the VMM does what the CPU would have done and the guest runs on. One rule for all of them: only on
// such hosts (the caller decides; on VT-x/AMD-V none of these exits happen), only at CPL 0 (ring 3
// runs natively and never gets here), and only where the result is known; anything else stays an
// emulation failure and ends the vCPU as before.
//   int3  (0xcc): RIP past it, #BP injected. Linux's boot-time int3 self-test and live code patching
//                 (text_poke_bp) use it.
//   fwait (0x9b): RIP past it, when no unmasked x87 exception is pending and CR0.TS/MP would not
//                 raise #NM (then it does nothing). Linux runs one in fpu__drop() when a task's FPU
//                 state is dropped, e.g. on the second CPU as it starts its first kernel threads.
import { KvmInternalError } from '../../kvm/constants';
import type { VcpuExit } from '../../kvm/exits';
import type { Regs } from '../../kvm/structs/regs';
import type { Sregs } from '../../kvm/structs/sregs';
import type { Vcpu } from '../../kvm/vcpu';
import type { GuestMemory } from '../../memory/guest-memory';

const INT3_OPCODE = 0xcc;
const FWAIT_OPCODE = 0x9b;
const BREAKPOINT_VECTOR = 3;
/** kvm_run.emulation_failure.flags: the instruction bytes that failed follow (insn_size, insn_bytes[15]). */
const EMULATION_FLAG_INSTRUCTION_BYTES = 1n;
const FLAGS_WORD = 0;
const INSTRUCTION_WORD = 1;
const CPL_MASK = 3;
const CR0_MP = 1n << 1n;
const CR0_TS = 1n << 3n;
/** x87 status word: the six exception flags (IE DE ZE OE UE PE) and the error summary ES. */
const FSW_EXCEPTION_FLAGS = 0x3f;
const FSW_ERROR_SUMMARY = 0x80;
/** x87 control word: the six exception masks, in the same bit positions as the flags. */
const FCW_EXCEPTION_MASKS = 0x3f;

type InternalErrorExit = Extract<VcpuExit, { kind: 'internal-error' }>;
/** What completing an instruction needs of a vCPU. */
export type CompletingVcpu = Pick<Vcpu, 'getRegs' | 'setRegs' | 'getSregs' | 'getFpu' | 'getVcpuEvents' | 'setVcpuEvents' | 'translate'>;

interface Failed {
  vcpu: CompletingVcpu;
  regs: Regs;
  sregs: Sregs;
}

/** Instructions finished here, by first opcode byte: each returns false where the result is not known. */
const COMPLETIONS = new Map<number, { name: string; complete: (failed: Failed) => boolean }>([
  [INT3_OPCODE, { name: 'int3', complete: completeInt3 }],
  [FWAIT_OPCODE, { name: 'fwait', complete: completeFwait }],
]);

/** Names of the instructions this module finishes (for documentation and tests). */
export const COMPLETED_INSTRUCTIONS: readonly string[] = [...COMPLETIONS.values()].map((entry) => entry.name);

function completeInt3({ vcpu, regs }: Failed): boolean {
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

/** True when an fwait would raise an exception (#NM, or #MF / FERR# for a pending x87 exception). */
export function fwaitWouldFault(cr0: bigint, fcw: number, fsw: number): boolean {
  if ((cr0 & CR0_TS) !== 0n && (cr0 & CR0_MP) !== 0n) return true;
  const unmasked = fsw & ~fcw & FCW_EXCEPTION_MASKS & FSW_EXCEPTION_FLAGS;
  return unmasked !== 0 || (fsw & FSW_ERROR_SUMMARY) !== 0;
}

function completeFwait({ vcpu, regs, sregs }: Failed): boolean {
  const fpu = vcpu.getFpu();
  if (fwaitWouldFault(sregs.cr0, fpu.fcw, fpu.fsw)) return false;
  vcpu.setRegs({ ...regs, rip: regs.rip + 1n });
  return true;
}

/** The first byte of the instruction that failed, from the exit's own copy when KVM supplied one. */
function firstInstructionByte(exit: InternalErrorExit, csBase: bigint, vcpu: CompletingVcpu, memory: Pick<GuestMemory, 'contains' | 'readU8'>, rip: bigint): number | undefined {
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
 * The instruction's name when the exit was an emulation failure at CPL 0 on an instruction listed
 * above and the vCPU now continues as the CPU would have; undefined leaves the exit to be reported
 * as a fault.
 */
export function completeEmulationFailure(exit: VcpuExit, vcpu: CompletingVcpu, memory: Pick<GuestMemory, 'contains' | 'readU8'>): string | undefined {
  if (exit.kind !== 'internal-error' || exit.suberror !== KvmInternalError.EMULATION) return undefined;
  const sregs = vcpu.getSregs();
  if ((sregs.cs.selector & CPL_MASK) !== 0) return undefined;
  const regs = vcpu.getRegs();
  const opcode = firstInstructionByte(exit, sregs.cs.base, vcpu, memory, regs.rip);
  const completion = opcode === undefined ? undefined : COMPLETIONS.get(opcode);
  return completion !== undefined && completion.complete({ vcpu, regs, sregs }) ? completion.name : undefined;
}
