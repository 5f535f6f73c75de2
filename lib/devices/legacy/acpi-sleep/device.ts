// The ACPI sleep control register as a machine device (acpi-sleep.ts is its vCPU-thread half). The
// FADT names its port rather than the DSDT; a guest entering S5 ends the VM with reason 'shutdown'.
import * as path from 'node:path';
import type { DeviceModuleSpec } from '../../../runner/messages';
import { type Device, type DeviceNeeds, PlacedDevice } from '../../device';
import { ACPI_SLEEP_PORT } from './acpi-sleep';

const MODULE_PATH = path.join(__dirname, 'acpi-sleep.js');

/** The ACPI sleep control register (port 0x600 by default): S5 ends the VM with reason `shutdown`. */
export class AcpiSleepDevice extends PlacedDevice implements Device {
  readonly kind = 'acpi-sleep';
  readonly idPrefix = 'acpi-sleep';
  /** Its one port. */
  readonly needs: DeviceNeeds;
  /** The port. */
  readonly port: number;

  /**
   * Makes the device.
   * @throws Nothing.
   */
  constructor(options: { id?: string; port?: number } = {}) {
    super(options.id ?? 'acpi-sleep');
    this.port = options.port ?? ACPI_SLEEP_PORT;
    this.needs = { ports: [{ base: this.port, size: 1 }] };
  }

  get worker(): DeviceModuleSpec {
    return { module: MODULE_PATH, args: { port: this.port } };
  }

  /**
   * @throws Nothing.
   */
  kernelCmdline(): string {
    return '';
  }

  /**
   * @throws Nothing.
   */
  acpiNode(): undefined {
    return undefined;
  }
}
