// A 16550A UART as a machine device: its registers on every vCPU thread's port bus (serial-module.ts),
// its console stream on the main thread (serial-console.ts), one state in SharedArrayBuffers for both.
// The vCPU-thread half reports output through the device's private channel; the console ends when the
// machine has stopped.
import * as path from 'node:path';
import type { MessagePort } from 'node:worker_threads';
import { device, eisaId, extendedInterrupt, integer, ioPorts, name, resourceTemplate } from '../../../arch/x86_64/acpi/aml';
import type { MachineAttachContext } from '../../../runner/machine-device';
import type { DeviceModuleSpec } from '../../../runner/messages';
import { type Device, type DeviceNeeds, PlacedDevice } from '../../device';
import { restoreSharedBuffers, saveSharedBuffers } from '../../shared-state';
import { COM1_IRQ, COM1_PORT, UART_PORT_COUNT } from './registers';
import { SerialConsole } from './serial-console';
import type { SerialModuleArgs } from './serial-module';
import { createSerialState, type SerialOptions, type SerialSharedState } from './serial-state';

const MODULE_PATH = path.join(__dirname, 'serial-module.js');

export interface SerialDeviceOptions extends SerialOptions {
  id?: string;
  /** First I/O port (default COM1's 0x3f8). */
  port?: number;
  /** Interrupt line (default COM1's 4). */
  irq?: number;
}

export class SerialDevice extends PlacedDevice implements Device {
  readonly kind = 'serial';
  readonly idPrefix = 'serial';
  readonly needs: DeviceNeeds;
  readonly port: number;
  readonly irq: number;
  readonly state: SerialSharedState;
  /** The guest's side of the port as a Duplex stream. */
  readonly console: SerialConsole;

  constructor(options: SerialDeviceOptions = {}) {
    super(options.id);
    this.port = options.port ?? COM1_PORT;
    this.irq = options.irq ?? COM1_IRQ;
    this.state = createSerialState(options);
    this.console = new SerialConsole(this.state);
    this.needs = { irq: { line: this.irq }, ports: [{ base: this.port, size: UART_PORT_COUNT }] };
  }

  get worker(): DeviceModuleSpec {
    return { module: MODULE_PATH, args: { state: this.state, port: this.port, irq: this.irq } satisfies SerialModuleArgs };
  }

  connect(_vcpu: number, port: MessagePort): void {
    port.on('message', () => this.console.outputReady());
  }

  attach(context: MachineAttachContext): void {
    this.console.bindIrq((level) => context.vm.irqLine(this.irq, level));
  }

  async quiesce(): Promise<void> {
    this.console.finish();
  }

  kernelCmdline(): string {
    return '';
  }

  /** COM1, COM2, ... by ordinal, as PNP0501 with its ports and edge-triggered line. */
  acpiNode(): Uint8Array {
    const ordinal = this.placement.ordinal;
    return device(
      `COM${ordinal + 1}`,
      name('_HID', eisaId('PNP0501')),
      name('_UID', integer(ordinal + 1)),
      name('_CRS', resourceTemplate(ioPorts(this.port, UART_PORT_COUNT), extendedInterrupt(this.irq, { edge: true }))),
    );
  }

  saveState(): unknown {
    return saveSharedBuffers({ registers: this.state.registers, tx: this.state.tx, rx: this.state.rx });
  }

  restoreState(state: unknown): void {
    restoreSharedBuffers(`serial ${this.id}`, { registers: this.state.registers, tx: this.state.tx, rx: this.state.rx }, state);
  }
}
