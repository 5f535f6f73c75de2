// The i8042 keyboard controller as a machine device: ports 0x60/0x64 (and port B, 0x61) on every vCPU
// thread, state in one SharedArrayBuffer; the guest's reset command (0xFE) ends the VM with 'reset'.
// The DSDT declares it (PNP0303) with the keyboard's line, which it never raises.
import * as path from 'node:path';
import { device, eisaId, extendedInterrupt, ioPorts, name, resourceTemplate } from '../../../arch/x86_64/acpi/aml';
import type { DeviceModuleSpec } from '../../../runner/messages';
import { type Device, type DeviceNeeds, PlacedDevice } from '../../device';
import { DeviceError } from '../../../kvm/errors';
import type { MachineAttachContext, VmWiring } from '../../../runner/machine-device';
import { restoreSharedBuffers, saveSharedBuffers } from '../../shared-state';
import { createI8042State, I8042_COMMAND_PORT, I8042_DATA_PORT, I8042_IRQ, I8042Output, KEY_ALT, KEY_CTRL, KEY_DELETE, SYSTEM_CONTROL_PORT_B, type I8042Args } from './i8042';

const MODULE_PATH = path.join(__dirname, 'i8042.js');

/**
 * An i8042 keyboard controller, enough for Linux: self-test, command byte, the reset command (0xFE) that ends
 * the VM with reason `reset`, and Ctrl-Alt-Del put to the guest from the host ({@link I8042Device.sendCtrlAltDel}).
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
  readonly #output = new I8042Output(this.state);
  #vm: VmWiring | undefined;

  /**
   * Makes the controller.
   * @throws Nothing.
   */
  constructor(options: { id?: string } = {}) {
    super(options.id ?? 'i8042');
  }

  /**
   * @throws Nothing.
   */
  attach(context: MachineAttachContext): void {
    this.#vm = context.vm;
  }

  /**
   * Presses Ctrl, Alt and Delete (set 2 codes, as Firecracker's SendCtrlAltDel; set 1 while the command byte
   * translates) and raises the keyboard line, unless the guest disabled its interrupt (the bytes then wait to be
   * polled). Linux reboots on it (with `reboot=k` through this controller: the VM ends with reason `reset`).
   * @throws {@link DeviceError} before the VM exists, or when the controller's buffer lacks room for the sequence.
   */
  sendCtrlAltDel(): void {
    const vm = this.#vm;
    if (vm === undefined) throw new DeviceError('i8042: Ctrl-Alt-Del needs a running VM');
    if (!this.#output.putKeys([KEY_CTRL, KEY_ALT, KEY_DELETE])) throw new DeviceError('i8042: its output buffer is full (the guest has not read the keys already sent)');
    if (!this.#output.interruptEnabled()) return;
    vm.irqLine(I8042_IRQ, true);
    vm.irqLine(I8042_IRQ, false);
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
