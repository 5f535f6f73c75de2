// The Fixed ACPI Description Table (ACPI 6.5, 5.2.9), revision 6.5, for a hardware-reduced platform:
// no PM blocks, no SCI, no FACS. It points at the DSDT through X_DSDT only (the 32-bit field stays 0)
// and names the sleep control and status registers, so a guest's poweroff (S5) reaches the VMM as one
// port write (devices/acpi-sleep.ts).
import { newTable, seal } from './sdt';

export const FADT_SIZE = 276;
const FADT_REVISION = 6;
const FADT_MINOR_REVISION = 5;
const Offset = {
  iapcBootArch: 109,
  flags: 112,
  minorRevision: 131,
  xDsdt: 140,
  sleepControl: 244,
  sleepStatus: 256,
  hypervisorVendor: 268,
} as const;
/** FADT flags (ACPI 6.5, table 5.10). */
const FLAG_PWR_BUTTON = 1 << 4; // the power button, if any, is a control-method device
const FLAG_SLP_BUTTON = 1 << 5;
const FLAG_HW_REDUCED_ACPI = 1 << 20;
/** IA-PC boot architecture flags (table 5.11): an i8042 is there, no VGA, no CMOS RTC. */
const BOOT_ARCH_8042 = 1 << 1;
const BOOT_ARCH_VGA_NOT_PRESENT = 1 << 2;
const BOOT_ARCH_CMOS_RTC_NOT_PRESENT = 1 << 5;
/** Generic Address Structure (5.2.3.2): system I/O space, one byte wide, byte access. */
const GAS_SYSTEM_IO = 1;
const GAS_BYTE_ACCESS = 1;

function writeIoRegister(view: DataView, at: number, port: number): void {
  view.setUint8(at, GAS_SYSTEM_IO);
  view.setUint8(at + 1, 8); // register bit width
  view.setUint8(at + 2, 0); // bit offset
  view.setUint8(at + 3, GAS_BYTE_ACCESS);
  view.setBigUint64(at + 4, BigInt(port), true);
}

export function buildFadt(options: { dsdtAddress: number; sleepPort: number }): Uint8Array {
  const { table, view } = newTable('FACP', FADT_REVISION, FADT_SIZE);
  view.setBigUint64(Offset.xDsdt, BigInt(options.dsdtAddress), true);
  view.setUint16(Offset.iapcBootArch, BOOT_ARCH_8042 | BOOT_ARCH_VGA_NOT_PRESENT | BOOT_ARCH_CMOS_RTC_NOT_PRESENT, true);
  view.setUint32(Offset.flags, FLAG_PWR_BUTTON | FLAG_SLP_BUTTON | FLAG_HW_REDUCED_ACPI, true);
  table[Offset.minorRevision] = FADT_MINOR_REVISION;
  writeIoRegister(view, Offset.sleepControl, options.sleepPort);
  writeIoRegister(view, Offset.sleepStatus, options.sleepPort);
  table.set(Buffer.from('NODE-VMM', 'latin1'), Offset.hypervisorVendor);
  return seal(table);
}
