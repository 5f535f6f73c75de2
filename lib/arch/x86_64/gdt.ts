// GDT entries and the kvm_segment values that match them.
import type { Segment } from '../../kvm/structs/sregs';

/** Access/flags words (bits 8-15 access byte, 12-15 of the high nibble flags) in Firecracker's notation. */
export const GDT_CODE_64 = 0xa09b;
export const GDT_DATA = 0xc093;
export const GDT_TSS = 0x808b;

export const SELECTOR_CODE = 0x08;
export const SELECTOR_DATA = 0x10;
export const SELECTOR_TSS = 0x18;

/** Packs a segment descriptor from `flags` (the 0xF0FF-style word above), base and limit. */
export function gdtEntry(flags: number, base: number, limit: number): bigint {
  const b = BigInt(base >>> 0);
  const l = BigInt(limit >>> 0);
  const f = BigInt(flags);
  return (
    ((b & 0xff000000n) << 32n) |
    ((f & 0x0000f0ffn) << 40n) |
    ((l & 0x000f0000n) << 32n) |
    ((b & 0x00ffffffn) << 16n) |
    (l & 0x0000ffffn)
  );
}

/** The kvm_segment KVM needs for a descriptor loaded through `selector`. */
export function segmentFromEntry(entry: bigint, selector: number): Segment {
  const bits = (shift: bigint, mask: bigint) => Number((entry >> shift) & mask);
  const base = ((entry >> 16n) & 0xffffffn) | (((entry >> 56n) & 0xffn) << 24n);
  const limit = bits(0n, 0xffffn) | (bits(48n, 0xfn) << 16);
  const present = bits(47n, 1n);
  return {
    base,
    limit,
    selector,
    type: bits(40n, 0xfn),
    present,
    dpl: bits(45n, 3n),
    db: bits(54n, 1n),
    s: bits(44n, 1n),
    l: bits(53n, 1n),
    g: bits(55n, 1n),
    avl: bits(52n, 1n),
    unusable: present === 0 ? 1 : 0,
  };
}
