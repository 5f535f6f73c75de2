// struct kvm_vcpu_events: pending/injected exception, interrupt, NMI, SIPI and SMM state.
import { StructView } from './cursor';

export const VCPU_EVENTS_SIZE = 64;

/** kvm_vcpu_events.flags: which optional fields are valid on SET. */
export const KVM_VCPUEVENT_VALID_NMI_PENDING = 0x1;
export const KVM_VCPUEVENT_VALID_SIPI_VECTOR = 0x2;
export const KVM_VCPUEVENT_VALID_SHADOW = 0x4;
export const KVM_VCPUEVENT_VALID_SMM = 0x8;
export const KVM_VCPUEVENT_VALID_PAYLOAD = 0x10;
export const KVM_VCPUEVENT_VALID_TRIPLE_FAULT = 0x20;

/** Pending exceptions, interrupts, NMIs and SMIs (`kvm_vcpu_events`). */
export interface VcpuEvents {
  /** The pending or injected exception. */
  exception: { injected: number; nr: number; hasErrorCode: number; pending: number; errorCode: number };
  /** The pending or injected interrupt. */
  interrupt: { injected: number; nr: number; soft: number; shadow: number };
  /** The NMI state. */
  nmi: { injected: number; pending: number; masked: number };
  /** The SIPI vector. */
  sipiVector: number;
  /** KVM_VCPUEVENT_VALID_* flags. */
  flags: number;
  /** The SMM state. */
  smi: { smm: number; pending: number; smmInsideNmi: number; latchedInit: number };
  /** Whether a triple fault is pending. */
  tripleFaultPending: number;
  /** Whether the exception has a payload. */
  exceptionHasPayload: number;
  /** The exception's payload (e.g. CR2 for a page fault). */
  exceptionPayload: bigint;
}

export function decodeVcpuEvents(bytes: Uint8Array): VcpuEvents {
  const s = new StructView(bytes);
  return {
    exception: { injected: s.u8(0), nr: s.u8(1), hasErrorCode: s.u8(2), pending: s.u8(3), errorCode: s.u32(4) },
    interrupt: { injected: s.u8(8), nr: s.u8(9), soft: s.u8(10), shadow: s.u8(11) },
    nmi: { injected: s.u8(12), pending: s.u8(13), masked: s.u8(14) },
    sipiVector: s.u32(16),
    flags: s.u32(20),
    smi: { smm: s.u8(24), pending: s.u8(25), smmInsideNmi: s.u8(26), latchedInit: s.u8(27) },
    tripleFaultPending: s.u8(28),
    exceptionHasPayload: s.u8(55),
    exceptionPayload: s.u64(56),
  };
}

export function encodeVcpuEvents(events: VcpuEvents): Uint8Array {
  const s = new StructView(VCPU_EVENTS_SIZE);
  const { exception, interrupt, nmi, smi } = events;
  s.setU8(0, exception.injected);
  s.setU8(1, exception.nr);
  s.setU8(2, exception.hasErrorCode);
  s.setU8(3, exception.pending);
  s.setU32(4, exception.errorCode);
  s.setU8(8, interrupt.injected);
  s.setU8(9, interrupt.nr);
  s.setU8(10, interrupt.soft);
  s.setU8(11, interrupt.shadow);
  s.setU8(12, nmi.injected);
  s.setU8(13, nmi.pending);
  s.setU8(14, nmi.masked);
  s.setU32(16, events.sipiVector);
  s.setU32(20, events.flags);
  s.setU8(24, smi.smm);
  s.setU8(25, smi.pending);
  s.setU8(26, smi.smmInsideNmi);
  s.setU8(27, smi.latchedInit);
  s.setU8(28, events.tripleFaultPending);
  s.setU8(55, events.exceptionHasPayload);
  s.setU64(56, events.exceptionPayload);
  return s.bytes;
}
