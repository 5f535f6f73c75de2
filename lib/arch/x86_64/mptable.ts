// An Intel MultiProcessor Specification 1.4 table: how Linux (without ACPI) finds the vCPUs, the
// IOAPIC and the ISA interrupt routing. Placed in the last KiB of base memory, which E820 reserves.
import { ConfigError } from '../../kvm/errors';
import type { GuestMemory } from '../../memory/guest-memory';
import { checksum, writeAscii } from './acpi/sdt';
import { BASE_MEMORY_END } from './layout';

/** The MP table fills the reserved last KiB of base memory. */
export const MPTABLE_ADDRESS = BASE_MEMORY_END;
export const MPTABLE_LIMIT = 0xa0000;
export const LOCAL_APIC_ADDRESS = 0xfee00000;
export const IOAPIC_ADDRESS = 0xfec00000;
/** Interrupt pins of KVM's in-kernel IOAPIC. */
export const IOAPIC_PINS = 24;

const FLOATING_POINTER_SIZE = 16;
const HEADER_SIZE = 44;
const PROCESSOR_ENTRY_SIZE = 20;
const SMALL_ENTRY_SIZE = 8;
const SPEC_REVISION = 4;
const APIC_VERSION = 0x14;
const IOAPIC_VERSION = 0x11;
const CPU_ENABLED = 0x1;
const CPU_BOOTSTRAP = 0x2;
const IOAPIC_ENABLED = 0x1;
const ENTRY_PROCESSOR = 0;
const ENTRY_BUS = 1;
const ENTRY_IOAPIC = 2;
const ENTRY_IO_INTERRUPT = 3;
const ENTRY_LOCAL_INTERRUPT = 4;
const INTERRUPT_INT = 0;
const INTERRUPT_NMI = 1;
const INTERRUPT_EXTINT = 3;
const ALL_LOCAL_APICS = 0xff;
/** CPUID-style signature (family 6) and features (FPU, APIC) the table reports for each CPU. */
const CPU_SIGNATURE = 0x600;
const CPU_FEATURES = 0x201;

export function mptableSize(vcpus: number): number {
  const entries = vcpus * PROCESSOR_ENTRY_SIZE + SMALL_ENTRY_SIZE * (2 + IOAPIC_PINS + 2);
  return FLOATING_POINTER_SIZE + HEADER_SIZE + entries;
}

export const MAX_MPTABLE_VCPUS = Math.floor((MPTABLE_LIMIT - MPTABLE_ADDRESS - mptableSize(0)) / PROCESSOR_ENTRY_SIZE);

/** The IOAPIC's id: after the vCPUs' APIC ids (0..n-1). The MP table and the ACPI MADT both use it. */
export const ioapicId = (vcpus: number): number => vcpus;

/** Builds the table for `vcpus` processors (APIC ids 0..n-1, the IOAPIC's id after them). */
export function buildMptable(vcpus: number, address = MPTABLE_ADDRESS): Uint8Array {
  if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > MAX_MPTABLE_VCPUS) {
    throw new ConfigError(`an MP table describes 1 to ${MAX_MPTABLE_VCPUS} vCPUs, not ${vcpus}`);
  }
  const table = new Uint8Array(mptableSize(vcpus));
  const view = new DataView(table.buffer);
  const header = FLOATING_POINTER_SIZE;

  writeAscii(table, 0, '_MP_', 4);
  view.setUint32(4, address + header, true);
  table[8] = FLOATING_POINTER_SIZE / 16;
  table[9] = SPEC_REVISION;

  let at = header + HEADER_SIZE;
  let entries = 0;
  for (let cpu = 0; cpu < vcpus; cpu++, entries++, at += PROCESSOR_ENTRY_SIZE) {
    table[at] = ENTRY_PROCESSOR;
    table[at + 1] = cpu;
    table[at + 2] = APIC_VERSION;
    table[at + 3] = CPU_ENABLED | (cpu === 0 ? CPU_BOOTSTRAP : 0);
    view.setUint32(at + 4, CPU_SIGNATURE, true);
    view.setUint32(at + 8, CPU_FEATURES, true);
  }
  table[at] = ENTRY_BUS;
  writeAscii(table, at + 2, 'ISA', 6);
  at += SMALL_ENTRY_SIZE;
  entries++;
  table[at] = ENTRY_IOAPIC;
  table[at + 1] = ioapicId(vcpus);
  table[at + 2] = IOAPIC_VERSION;
  table[at + 3] = IOAPIC_ENABLED;
  view.setUint32(at + 4, IOAPIC_ADDRESS, true);
  at += SMALL_ENTRY_SIZE;
  entries++;
  for (let pin = 0; pin < IOAPIC_PINS; pin++, entries++, at += SMALL_ENTRY_SIZE) {
    table[at] = ENTRY_IO_INTERRUPT;
    table[at + 1] = INTERRUPT_INT;
    table[at + 4] = 0; // ISA bus
    table[at + 5] = pin;
    table[at + 6] = ioapicId(vcpus);
    table[at + 7] = pin;
  }
  const localInterrupts: Array<[number, number]> = [
    [INTERRUPT_EXTINT, 0],
    [INTERRUPT_NMI, 1],
  ];
  for (const [type, lint] of localInterrupts) {
    table[at] = ENTRY_LOCAL_INTERRUPT;
    table[at + 1] = type;
    table[at + 6] = ALL_LOCAL_APICS;
    table[at + 7] = lint;
    at += SMALL_ENTRY_SIZE;
    entries++;
  }

  writeAscii(table, header, 'PCMP', 4);
  view.setUint16(header + 4, table.length - header, true);
  table[header + 6] = SPEC_REVISION;
  writeAscii(table, header + 8, 'NODE-VMM', 8);
  writeAscii(table, header + 16, 'MICROVM', 12);
  view.setUint16(header + 34, entries, true);
  view.setUint32(header + 36, LOCAL_APIC_ADDRESS, true);
  table[header + 7] = checksum(table.subarray(header));
  table[10] = checksum(table.subarray(0, FLOATING_POINTER_SIZE));
  return table;
}

export function writeMptable(memory: GuestMemory, vcpus: number): void {
  memory.writeBytes(MPTABLE_ADDRESS, buildMptable(vcpus));
}
