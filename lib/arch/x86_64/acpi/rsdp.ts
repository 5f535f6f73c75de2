// The Root System Description Pointer (ACPI 6.5, 5.2.5.3), revision 2: points at the XSDT only.
import { OEM_ID, checksum, writeAscii } from './sdt';

export const RSDP_SIZE = 36;
const RSDP_V1_SIZE = 20;
const RSDP_REVISION = 2;

export function buildRsdp(xsdtAddress: number): Uint8Array {
  const rsdp = new Uint8Array(RSDP_SIZE);
  const view = new DataView(rsdp.buffer);
  writeAscii(rsdp, 0, 'RSD PTR ', 8);
  writeAscii(rsdp, 9, OEM_ID, 6);
  rsdp[15] = RSDP_REVISION;
  view.setUint32(16, 0, true); // no RSDT
  view.setUint32(20, RSDP_SIZE, true);
  view.setBigUint64(24, BigInt(xsdtAddress), true);
  rsdp[8] = checksum(rsdp.subarray(0, RSDP_V1_SIZE));
  rsdp[32] = checksum(rsdp);
  return rsdp;
}
