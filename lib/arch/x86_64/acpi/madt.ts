// The Multiple APIC Description Table (ACPI 6.5, 5.2.12): one local APIC per vCPU (APIC ids 0..n-1,
// as the vCPUs' CPUID reports them) and KVM's IOAPIC with GSIs 0-23 mapped one to one to its pins.
import { IOAPIC_ADDRESS, ioapicId, LOCAL_APIC_ADDRESS } from '../mptable';
import { newTable, seal, SDT_HEADER_SIZE } from './sdt';

const MADT_REVISION = 6;
const MADT_FIELDS_SIZE = 8; // local APIC address, flags
const ENTRY_LOCAL_APIC = 0;
const ENTRY_IOAPIC = 1;
const LOCAL_APIC_SIZE = 8;
const IOAPIC_SIZE = 12;
const LOCAL_APIC_ENABLED = 1;
/** Local APIC ids are 8 bits in these entries (x2APIC entries would be needed beyond). */
export const MAX_MADT_VCPUS = 255;

export function buildMadt(vcpus: number): Uint8Array {
  const { table, view } = newTable('APIC', MADT_REVISION, SDT_HEADER_SIZE + MADT_FIELDS_SIZE + IOAPIC_SIZE + vcpus * LOCAL_APIC_SIZE);
  view.setUint32(SDT_HEADER_SIZE, LOCAL_APIC_ADDRESS, true);
  view.setUint32(SDT_HEADER_SIZE + 4, 0, true); // no dual 8259 to disable: PCAT_COMPAT clear, as hardware-reduced
  let at = SDT_HEADER_SIZE + MADT_FIELDS_SIZE;
  for (let cpu = 0; cpu < vcpus; cpu++, at += LOCAL_APIC_SIZE) {
    table[at] = ENTRY_LOCAL_APIC;
    table[at + 1] = LOCAL_APIC_SIZE;
    table[at + 2] = cpu; // ACPI processor UID
    table[at + 3] = cpu; // APIC id
    view.setUint32(at + 4, LOCAL_APIC_ENABLED, true);
  }
  table[at] = ENTRY_IOAPIC;
  table[at + 1] = IOAPIC_SIZE;
  table[at + 2] = ioapicId(vcpus);
  view.setUint32(at + 4, IOAPIC_ADDRESS, true);
  view.setUint32(at + 8, 0, true); // GSI base
  return seal(table);
}
