// The Differentiated System Description Table: the devices a hardware-reduced guest cannot find by
// itself. Linux then has no legacy PIC and no ISA IRQ defaults (null_legacy_pic), so COM1 and the
// i8042 are declared with their GSIs, and each virtio-mmio window as a "LNRO0005" device, which the
// virtio_mmio driver binds through ACPI (no CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES needed). \_S5 lets the
// guest power off through the FADT's sleep control register.
import { COM1_IRQ, COM1_PORT } from '../../../devices/legacy/serial/registers';
import { I8042_COMMAND_PORT, I8042_DATA_PORT, I8042_IRQ } from '../../../devices/legacy/i8042';
import { VIRTIO_MMIO_WINDOW } from '../../../devices/virtio/transport/mmio-registers';
import { concat, device, eisaId, extendedInterrupt, integer, ioPorts, memory32Fixed, name, packageOf, resourceTemplate, scope, string } from './aml';
import { newTable, seal, SDT_HEADER_SIZE } from './sdt';

const DSDT_REVISION = 2;
const UART_PORTS = 8;
/** The SLP_TYP the guest writes for S5 (soft off); devices/acpi-sleep.ts ends the VM on it. */
export const S5_SLEEP_TYPE = 5;

export interface DsdtVirtioDevice {
  base: number;
  irq: number;
}

function com1(): Uint8Array {
  return device(
    'COM1',
    name('_HID', eisaId('PNP0501')),
    name('_UID', integer(1)),
    name('_CRS', resourceTemplate(ioPorts(COM1_PORT, UART_PORTS), extendedInterrupt(COM1_IRQ, { edge: true }))),
  );
}

function i8042(): Uint8Array {
  return device(
    'PS2K',
    name('_HID', eisaId('PNP0303')),
    name('_CRS', resourceTemplate(ioPorts(I8042_DATA_PORT, 1), ioPorts(I8042_COMMAND_PORT, 1), extendedInterrupt(I8042_IRQ, { edge: true }))),
  );
}

function virtio(index: number, window: DsdtVirtioDevice): Uint8Array {
  return device(
    `V${index.toString().padStart(3, '0')}`,
    name('_HID', string('LNRO0005')),
    name('_UID', integer(index)),
    name('_CCA', integer(1)), // DMA is cache coherent
    name('_CRS', resourceTemplate(memory32Fixed(window.base, VIRTIO_MMIO_WINDOW), extendedInterrupt(window.irq, { edge: true }))),
  );
}

export function buildDsdt(virtioDevices: readonly DsdtVirtioDevice[]): Uint8Array {
  const body = concat(
    scope('\\_SB', com1(), i8042(), ...virtioDevices.map((window, i) => virtio(i, window))),
    name('\\_S5', packageOf([integer(S5_SLEEP_TYPE), integer(0)])),
  );
  const { table } = newTable('DSDT', DSDT_REVISION, SDT_HEADER_SIZE + body.length);
  table.set(body, SDT_HEADER_SIZE);
  return seal(table);
}
