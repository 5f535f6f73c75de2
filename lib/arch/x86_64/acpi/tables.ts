// All ACPI tables of a Linux machine, placed in the BIOS area that the E820 map reserves: the RSDP
// at 0xE0000 (where a guest also finds it by scanning), the others after it. Linux is told the
// RSDP's address in boot_params too.
import { ConfigError } from '../../../kvm/errors';
import { HIGH_MEMORY_START } from '../layout';
import type { GuestMemory } from '../../../memory/guest-memory';
import { buildDsdt } from './dsdt';
import { buildFadt } from './fadt';
import { buildMadt, MAX_MADT_VCPUS } from './madt';
import { buildRsdp, RSDP_SIZE } from './rsdp';
import { buildXsdt } from './xsdt';

export const ACPI_RSDP_ADDRESS = 0xe0000;
/** The reserved BIOS area ends where high memory starts. */
export const ACPI_AREA_END = HIGH_MEMORY_START;
const TABLE_ALIGNMENT = 16;

export interface AcpiOptions {
  vcpus: number;
  /** The DSDT's device nodes, one per machine device that has one. */
  deviceNodes: readonly Uint8Array[];
  sleepPort: number;
}

export interface PlacedTable {
  signature: string;
  address: number;
  bytes: Uint8Array;
}

const align = (value: number): number => Math.ceil(value / TABLE_ALIGNMENT) * TABLE_ALIGNMENT;

/** The tables at their addresses: RSDP, DSDT, FADT, MADT, XSDT. */
export function buildAcpiTables(options: AcpiOptions): PlacedTable[] {
  if (!Number.isInteger(options.vcpus) || options.vcpus < 1 || options.vcpus > MAX_MADT_VCPUS) {
    throw new ConfigError(`ACPI tables describe 1 to ${MAX_MADT_VCPUS} vCPUs, not ${options.vcpus}`);
  }
  let next = align(ACPI_RSDP_ADDRESS + RSDP_SIZE);
  const place = (signature: string, bytes: Uint8Array): PlacedTable => {
    const placed = { signature, address: next, bytes };
    next = align(next + bytes.length);
    return placed;
  };
  const dsdt = place('DSDT', buildDsdt(options.deviceNodes));
  const fadt = place('FACP', buildFadt({ dsdtAddress: dsdt.address, sleepPort: options.sleepPort }));
  const madt = place('APIC', buildMadt(options.vcpus));
  const xsdt = place('XSDT', buildXsdt([fadt.address, madt.address]));
  if (next > ACPI_AREA_END) throw new ConfigError(`ACPI tables need ${next - ACPI_RSDP_ADDRESS} bytes, more than the BIOS area holds`);
  return [{ signature: 'RSD PTR ', address: ACPI_RSDP_ADDRESS, bytes: buildRsdp(xsdt.address) }, dsdt, fadt, madt, xsdt];
}

/** Writes the tables into guest memory; returns the RSDP's address. */
export function writeAcpiTables(memory: GuestMemory, options: AcpiOptions): number {
  for (const table of buildAcpiTables(options)) memory.writeBytes(table.address, table.bytes);
  return ACPI_RSDP_ADDRESS;
}
