// The sleep control and status register of a hardware-reduced ACPI platform (ACPI 6.5, 4.8.3.7), one
// I/O port the FADT names. A guest powering off writes SLP_TYP (from \_S5) with SLP_EN: the VM ends
// with reason 'shutdown'. Other writes (clearing WAK_STS, other sleep states) change nothing.
import { S5_SLEEP_TYPE } from '../../../arch/x86_64/acpi/dsdt';
import type { DeviceContext } from '../../../runner/device-context';

export const ACPI_SLEEP_PORT = 0x600;
const SLEEP_TYPE_SHIFT = 2;
const SLEEP_TYPE_MASK = 0x7;
const SLEEP_ENABLE = 1 << 5;

export function isSoftOff(value: number): boolean {
  return (value & SLEEP_ENABLE) !== 0 && ((value >> SLEEP_TYPE_SHIFT) & SLEEP_TYPE_MASK) === S5_SLEEP_TYPE;
}

export function setup(context: DeviceContext, rawArgs: unknown): void {
  const port = (rawArgs as { port?: number } | undefined)?.port ?? ACPI_SLEEP_PORT;
  context.pio.register(port, 1, {
    read(_offset, data) {
      data.fill(0); // WAK_STS clear: never woken
    },
    write(_offset, data) {
      if (isSoftOff(data[0] as number)) context.requestExit({ kind: 'poweroff' });
    },
  }, 'acpi-sleep');
}
