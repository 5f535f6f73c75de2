// struct kvm_translation: u64 linear_address (in), u64 physical_address, u8 valid, writeable, usermode, pad[5].
import { StructView } from './cursor';

export const TRANSLATION_SIZE = 24;

export interface Translation {
  linearAddress: bigint;
  physicalAddress: bigint;
  valid: boolean;
  writeable: boolean;
  usermode: boolean;
}

export function encodeTranslationRequest(linearAddress: bigint): Uint8Array {
  const s = new StructView(TRANSLATION_SIZE);
  s.setU64(0, linearAddress);
  return s.bytes;
}

export function decodeTranslation(bytes: Uint8Array): Translation {
  const s = new StructView(bytes);
  return { linearAddress: s.u64(0), physicalAddress: s.u64(8), valid: s.u8(16) !== 0, writeable: s.u8(17) !== 0, usermode: s.u8(18) !== 0 };
}
