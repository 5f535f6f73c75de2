// The Differentiated System Description Table: the devices a hardware-reduced guest cannot find by
// itself. Linux then has no legacy PIC and no ISA IRQ defaults (null_legacy_pic), so every device is
// declared with its resources: each machine device brings its own node (an AML Device object, built
// by the device from aml.ts), and the table puts them in \_SB. \_S5 lets the guest power off through
// the FADT's sleep control register.
import { concat, integer, name, packageOf, scope } from './aml';
import { newTable, seal, SDT_HEADER_SIZE } from './sdt';

const DSDT_REVISION = 2;
/** The SLP_TYP the guest writes for S5 (soft off); the ACPI sleep device ends the VM on it. */
export const S5_SLEEP_TYPE = 5;

export function buildDsdt(deviceNodes: readonly Uint8Array[]): Uint8Array {
  const body = concat(scope('\\_SB', ...deviceNodes), name('\\_S5', packageOf([integer(S5_SLEEP_TYPE), integer(0)])));
  const { table } = newTable('DSDT', DSDT_REVISION, SDT_HEADER_SIZE + body.length);
  table.set(body, SDT_HEADER_SIZE);
  return seal(table);
}
