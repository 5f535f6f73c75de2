// The i8042 keyboard controller as a machine device: ports 0x60/0x64 (and port B, 0x61) on every vCPU
// thread, state in one SharedArrayBuffer; the guest's reset command (0xFE) ends the VM with 'reset'.
// The DSDT declares it (PNP0303) with the keyboard's line, which it never raises.
import * as path from 'node:path';
import { device, eisaId, extendedInterrupt, ioPorts, name, resourceTemplate } from '../../../arch/x86_64/acpi/aml';
import type { DeviceModuleSpec } from '../../../runner/messages';
import { type Device, type DeviceNeeds, PlacedDevice } from '../../device';
import { restoreSharedBuffers, saveSharedBuffers } from '../../shared-state';
import { createI8042State, I8042_COMMAND_PORT, I8042_DATA_PORT, I8042_IRQ, SYSTEM_CONTROL_PORT_B, type I8042Args } from './i8042';

const MODULE_PATH = path.join(__dirname, 'i8042.js');

/**
 * An i8042 keyboard controller, enough for Linux: self-test, command byte, and the reset command (0xFE) that ends
 * the VM with reason `reset`.
 */
export class I8042Device extends PlacedDevice implements Device {
  readonly kind = 'i8042';
  readonly idPrefix = 'i8042-';
  /** Ports 0x60 and 0x64 and line 1. */
  readonly needs: DeviceNeeds = {
    irq: { line: I8042_IRQ },
    ports: [
      { base: I8042_DATA_PORT, size: 1 },
      { base: SYSTEM_CONTROL_PORT_B, size: 1 },
      { base: I8042_COMMAND_PORT, size: 1 },
    ],
  };
  /** The controller's shared state. */
  readonly state = createI8042State();

  /**
   * Makes the controller.
   * @throws Nothing.
   */
  constructor(options: { id?: string } = {}) {
    super(options.id ?? 'i8042');
  }

  get worker(): DeviceModuleSpec {
    return { module: MODULE_PATH, args: { state: this.state } satisfies I8042Args };
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
  acpiNode(): Uint8Array {
    return device(
      'PS2K',
      name('_HID', eisaId('PNP0303')),
      name('_CRS', resourceTemplate(ioPorts(I8042_DATA_PORT, 1), ioPorts(I8042_COMMAND_PORT, 1), extendedInterrupt(I8042_IRQ, { edge: true }))),
    );
  }

  /**
   * @throws Nothing.
   */
  saveState(): unknown {
    return saveSharedBuffers({ state: this.state });
  }

  /**
   * @throws {@link ConfigError} when the state is not a saved i8042 state.
   */
  restoreState(state: unknown): void {
    restoreSharedBuffers(`i8042 ${this.id}`, { state: this.state }, state);
  }
}
