// struct kvm_regs: 18 × u64, in this order.
import { StructView } from './cursor';

export const REGS_SIZE = 144;

export const REGISTER_NAMES = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
  'rip', 'rflags',
] as const;

/** The name of a general register (rax ... r15, rip, rflags). */
export type RegisterName = (typeof REGISTER_NAMES)[number];
/** The general registers (`kvm_regs`), each a bigint. */
export type Regs = Record<RegisterName, bigint>;

/** RFLAGS bit 1 is reserved and must be set. */
export const RFLAGS_RESERVED = 0x2n;

export function emptyRegs(): Regs {
  const regs = {} as Regs;
  for (const name of REGISTER_NAMES) regs[name] = 0n;
  regs.rflags = RFLAGS_RESERVED;
  return regs;
}

export function decodeRegs(bytes: Uint8Array): Regs {
  const s = new StructView(bytes);
  const regs = {} as Regs;
  REGISTER_NAMES.forEach((name, index) => {
    regs[name] = s.u64(index * 8);
  });
  return regs;
}

export function encodeRegs(regs: Regs): Uint8Array {
  const s = new StructView(REGS_SIZE);
  REGISTER_NAMES.forEach((name, index) => s.setU64(index * 8, regs[name]));
  return s.bytes;
}
