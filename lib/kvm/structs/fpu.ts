// struct kvm_fpu: x87 registers, control words and the SSE state.
import { StructView } from './cursor';

export const FPU_SIZE = 416;
const FPR_OFFSET = 0;
const FCW_OFFSET = 128;
const FSW_OFFSET = 130;
const FTWX_OFFSET = 132;
const LAST_OPCODE_OFFSET = 134;
const LAST_IP_OFFSET = 136;
const LAST_DP_OFFSET = 144;
const XMM_OFFSET = 152;
const MXCSR_OFFSET = 408;
const REGISTER_BYTES = 16;

/** The x87 control word and MXCSR after a power-on reset (Firecracker uses the same). */
export const FPU_DEFAULT_FCW = 0x37f;
export const FPU_DEFAULT_MXCSR = 0x1f80;

/** The FPU and SSE state (`kvm_fpu`). */
export interface Fpu {
  /** 8 x87 registers, 16 bytes each (80 bits used). */
  fpr: Uint8Array[];
  /** The x87 control word. */
  fcw: number;
  /** The x87 status word. */
  fsw: number;
  /** The abridged x87 tag word. */
  ftwx: number;
  /** The last x87 opcode. */
  lastOpcode: number;
  /** The last x87 instruction pointer. */
  lastIp: bigint;
  /** The last x87 data pointer. */
  lastDp: bigint;
  /** 16 XMM registers, 16 bytes each. */
  xmm: Uint8Array[];
  /** The SSE control and status register. */
  mxcsr: number;
}

export function defaultFpu(): Fpu {
  return {
    fpr: Array.from({ length: 8 }, () => new Uint8Array(REGISTER_BYTES)),
    fcw: FPU_DEFAULT_FCW,
    fsw: 0,
    ftwx: 0,
    lastOpcode: 0,
    lastIp: 0n,
    lastDp: 0n,
    xmm: Array.from({ length: 16 }, () => new Uint8Array(REGISTER_BYTES)),
    mxcsr: FPU_DEFAULT_MXCSR,
  };
}

export function decodeFpu(bytes: Uint8Array): Fpu {
  const s = new StructView(bytes);
  const slice = (at: number) => bytes.slice(at, at + REGISTER_BYTES);
  return {
    fpr: Array.from({ length: 8 }, (_, i) => slice(FPR_OFFSET + i * REGISTER_BYTES)),
    fcw: s.u16(FCW_OFFSET),
    fsw: s.u16(FSW_OFFSET),
    ftwx: s.u8(FTWX_OFFSET),
    lastOpcode: s.u16(LAST_OPCODE_OFFSET),
    lastIp: s.u64(LAST_IP_OFFSET),
    lastDp: s.u64(LAST_DP_OFFSET),
    xmm: Array.from({ length: 16 }, (_, i) => slice(XMM_OFFSET + i * REGISTER_BYTES)),
    mxcsr: s.u32(MXCSR_OFFSET),
  };
}

export function encodeFpu(fpu: Fpu): Uint8Array {
  const s = new StructView(FPU_SIZE);
  fpu.fpr.slice(0, 8).forEach((reg, i) => s.bytes.set(reg.subarray(0, REGISTER_BYTES), FPR_OFFSET + i * REGISTER_BYTES));
  s.setU16(FCW_OFFSET, fpu.fcw);
  s.setU16(FSW_OFFSET, fpu.fsw);
  s.setU8(FTWX_OFFSET, fpu.ftwx);
  s.setU16(LAST_OPCODE_OFFSET, fpu.lastOpcode);
  s.setU64(LAST_IP_OFFSET, fpu.lastIp);
  s.setU64(LAST_DP_OFFSET, fpu.lastDp);
  fpu.xmm.slice(0, 16).forEach((reg, i) => s.bytes.set(reg.subarray(0, REGISTER_BYTES), XMM_OFFSET + i * REGISTER_BYTES));
  s.setU32(MXCSR_OFFSET, fpu.mxcsr);
  return s.bytes;
}
