// struct kvm_sregs: segments, descriptor tables, control registers, EFER, APIC base, pending interrupts.
import { StructView } from './cursor';

export const SREGS_SIZE = 312;
const SEGMENT_SIZE = 24;
const DTABLE_SIZE = 16;

/** A segment register as KVM holds it (`kvm_segment`). */
export interface Segment {
  /** The base address. */
  base: bigint;
  /** The limit. */
  limit: number;
  /** The selector. */
  selector: number;
  /** The type field. */
  type: number;
  /** The present bit. */
  present: number;
  /** The descriptor privilege level. */
  dpl: number;
  /** The default-size bit. */
  db: number;
  /** The descriptor-type bit (code or data, not system). */
  s: number;
  /** The 64-bit code bit. */
  l: number;
  /** The granularity bit. */
  g: number;
  /** The available bit. */
  avl: number;
  /** Whether the segment is unusable. */
  unusable: number;
}

/** A descriptor table register (`kvm_dtable`). */
export interface DescriptorTable {
  /** The base address. */
  base: bigint;
  /** The limit. */
  limit: number;
}

export const SEGMENT_NAMES = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'] as const;
/** The name of a segment register (cs, ds, es, fs, gs, ss, tr, ldt). */
export type SegmentName = (typeof SEGMENT_NAMES)[number];

/** The special registers (`kvm_sregs`): segments, descriptor tables, control registers, EFER, the APIC base. */
export interface Sregs extends Record<SegmentName, Segment> {
  /** The GDT's base and limit. */
  gdt: DescriptorTable;
  /** The IDT's base and limit. */
  idt: DescriptorTable;
  /** CR0. */
  cr0: bigint;
  /** CR2 (the last page-fault address). */
  cr2: bigint;
  /** CR3 (the page-table root). */
  cr3: bigint;
  /** CR4. */
  cr4: bigint;
  /** CR8 (the task priority). */
  cr8: bigint;
  /** The EFER MSR. */
  efer: bigint;
  /** The APIC base MSR. */
  apicBase: bigint;
  /** 256 bits: pending external interrupts (when no in-kernel irqchip). */
  interruptBitmap: [bigint, bigint, bigint, bigint];
}

const GDT_OFFSET = SEGMENT_NAMES.length * SEGMENT_SIZE;
const IDT_OFFSET = GDT_OFFSET + DTABLE_SIZE;
const CONTROL_OFFSET = IDT_OFFSET + DTABLE_SIZE;
const CONTROL_NAMES = ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer', 'apicBase'] as const;
const BITMAP_OFFSET = CONTROL_OFFSET + CONTROL_NAMES.length * 8;

function decodeSegment(s: StructView, at: number): Segment {
  return {
    base: s.u64(at),
    limit: s.u32(at + 8),
    selector: s.u16(at + 12),
    type: s.u8(at + 14),
    present: s.u8(at + 15),
    dpl: s.u8(at + 16),
    db: s.u8(at + 17),
    s: s.u8(at + 18),
    l: s.u8(at + 19),
    g: s.u8(at + 20),
    avl: s.u8(at + 21),
    unusable: s.u8(at + 22),
  };
}

function encodeSegment(s: StructView, at: number, seg: Segment): void {
  s.setU64(at, seg.base);
  s.setU32(at + 8, seg.limit);
  s.setU16(at + 12, seg.selector);
  s.setU8(at + 14, seg.type);
  s.setU8(at + 15, seg.present);
  s.setU8(at + 16, seg.dpl);
  s.setU8(at + 17, seg.db);
  s.setU8(at + 18, seg.s);
  s.setU8(at + 19, seg.l);
  s.setU8(at + 20, seg.g);
  s.setU8(at + 21, seg.avl);
  s.setU8(at + 22, seg.unusable);
}

export function decodeSregs(bytes: Uint8Array): Sregs {
  const s = new StructView(bytes);
  const out = {} as Sregs;
  SEGMENT_NAMES.forEach((name, index) => {
    out[name] = decodeSegment(s, index * SEGMENT_SIZE);
  });
  out.gdt = { base: s.u64(GDT_OFFSET), limit: s.u16(GDT_OFFSET + 8) };
  out.idt = { base: s.u64(IDT_OFFSET), limit: s.u16(IDT_OFFSET + 8) };
  CONTROL_NAMES.forEach((name, index) => {
    out[name] = s.u64(CONTROL_OFFSET + index * 8);
  });
  out.interruptBitmap = [0, 1, 2, 3].map((i) => s.u64(BITMAP_OFFSET + i * 8)) as Sregs['interruptBitmap'];
  return out;
}

export function encodeSregs(sregs: Sregs): Uint8Array {
  const s = new StructView(SREGS_SIZE);
  SEGMENT_NAMES.forEach((name, index) => encodeSegment(s, index * SEGMENT_SIZE, sregs[name]));
  s.setU64(GDT_OFFSET, sregs.gdt.base);
  s.setU16(GDT_OFFSET + 8, sregs.gdt.limit);
  s.setU64(IDT_OFFSET, sregs.idt.base);
  s.setU16(IDT_OFFSET + 8, sregs.idt.limit);
  CONTROL_NAMES.forEach((name, index) => s.setU64(CONTROL_OFFSET + index * 8, sregs[name]));
  sregs.interruptBitmap.forEach((word, i) => s.setU64(BITMAP_OFFSET + i * 8, word));
  return s.bytes;
}
