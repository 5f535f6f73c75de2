// The Extended System Description Table (ACPI 6.5, 5.2.8): 64-bit addresses of the other tables.
import { newTable, seal, SDT_HEADER_SIZE } from './sdt';

const XSDT_REVISION = 1;
const ENTRY_SIZE = 8;

export function buildXsdt(tableAddresses: readonly number[]): Uint8Array {
  const { table, view } = newTable('XSDT', XSDT_REVISION, SDT_HEADER_SIZE + ENTRY_SIZE * tableAddresses.length);
  tableAddresses.forEach((address, i) => view.setBigUint64(SDT_HEADER_SIZE + ENTRY_SIZE * i, BigInt(address), true));
  return seal(table);
}
