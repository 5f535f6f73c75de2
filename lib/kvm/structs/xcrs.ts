// struct kvm_xcrs: u32 nr_xcrs, u32 flags, 16 × {u32 xcr, u32 reserved, u64 value}, u64 padding[16].
import { ArgumentError } from '../errors';
import { StructView } from './cursor';

export const XCRS_SIZE = 392;
const XCRS_HEADER = 8;
const XCR_ENTRY_SIZE = 16;
const MAX_XCRS = 16;

/** An extended control register and its value. */
export interface Xcr {
  /** The register's number. */
  xcr: number;
  /** Its value. */
  value: bigint;
}

export function decodeXcrs(bytes: Uint8Array): Xcr[] {
  const s = new StructView(bytes);
  const count = Math.min(s.u32(0), MAX_XCRS);
  return Array.from({ length: count }, (_, i) => ({ xcr: s.u32(XCRS_HEADER + i * XCR_ENTRY_SIZE), value: s.u64(XCRS_HEADER + i * XCR_ENTRY_SIZE + 8) }));
}

export function encodeXcrs(xcrs: readonly Xcr[]): Uint8Array {
  if (xcrs.length > MAX_XCRS) throw new ArgumentError(`at most ${MAX_XCRS} XCRs`);
  const s = new StructView(XCRS_SIZE);
  s.setU32(0, xcrs.length);
  xcrs.forEach((x, i) => {
    s.setU32(XCRS_HEADER + i * XCR_ENTRY_SIZE, x.xcr);
    s.setU64(XCRS_HEADER + i * XCR_ENTRY_SIZE + 8, x.value);
  });
  return s.bytes;
}
