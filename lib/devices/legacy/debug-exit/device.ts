// The debug-exit port as a machine device (debug-exit.ts is its vCPU-thread half): a guest writes its
// status to end the VM with reason 'exited'. Stateless, invisible to ACPI and the command line.
import * as path from 'node:path';
import type { DeviceModuleSpec } from '../../../runner/messages';
import { type Device, type DeviceNeeds, PlacedDevice } from '../../device';
import { DEBUG_EXIT_PORT, DEBUG_EXIT_PORT_SPAN, type DebugExitArgs } from './debug-exit';

const MODULE_PATH = path.join(__dirname, 'debug-exit.js');

/** A port (0x501 by default) a guest writes its exit status to: the VM ends with reason `exited` and that status. */
export class DebugExitDevice extends PlacedDevice implements Device {
  readonly kind = 'debug-exit';
  readonly idPrefix = 'debug-exit';
  /** Its one port. */
  readonly needs: DeviceNeeds;
  /** The port. */
  readonly port: number;

  /**
   * Makes the device.
   * @throws Nothing.
   */
  constructor(options: { id?: string; port?: number } = {}) {
    super(options.id ?? 'debug-exit');
    this.port = options.port ?? DEBUG_EXIT_PORT;
    this.needs = { ports: [{ base: this.port, size: DEBUG_EXIT_PORT_SPAN }] };
  }

  get worker(): DeviceModuleSpec {
    return { module: MODULE_PATH, args: { port: this.port } satisfies DebugExitArgs };
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
