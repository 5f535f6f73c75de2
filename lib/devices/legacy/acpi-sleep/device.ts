// The ACPI sleep control register as a machine device (acpi-sleep.ts is its vCPU-thread half). The
// FADT names its port rather than the DSDT; a guest entering S5 ends the VM with reason 'shutdown'.
import * as path from 'node:path';
import type { DeviceModuleSpec } from '../../../runner/messages';
import { type Device, type DeviceNeeds, PlacedDevice } from '../../device';
import { ACPI_SLEEP_PORT } from './acpi-sleep';

const MODULE_PATH = path.join(__dirname, 'acpi-sleep.js');

export class AcpiSleepDevice extends PlacedDevice implements Device {
  readonly kind = 'acpi-sleep';
  readonly idPrefix = 'acpi-sleep';
  readonly needs: DeviceNeeds;
  readonly port: number;

  constructor(options: { id?: string; port?: number } = {}) {
    super(options.id ?? 'acpi-sleep');
    this.port = options.port ?? ACPI_SLEEP_PORT;
    this.needs = { ports: [{ base: this.port, size: 1 }] };
  }

  get worker(): DeviceModuleSpec {
    return { module: MODULE_PATH, args: { port: this.port } };
  }

  kernelCmdline(): string {
    return '';
  }

  acpiNode(): undefined {
    return undefined;
  }
}
