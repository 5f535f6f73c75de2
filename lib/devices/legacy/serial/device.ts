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
import type { DeviceCounters } from '../../counters';
import { SERIAL_COUNTERS, SerialConsole } from './serial-console';
import type { SerialModuleArgs } from './serial-module';
import { createSerialState, type SerialOptions, type SerialSharedState } from './serial-state';

const MODULE_PATH = path.join(__dirname, 'serial-module.js');

/** What a {@link SerialDevice} is made from: an id, and the port and line (default COM1). */
export interface SerialDeviceOptions extends SerialOptions {
  /** An id of its own (default `serial0`). */
  id?: string;
  /** First I/O port (default COM1's 0x3f8). */
  port?: number;
  /** Interrupt line (default COM1's 4). */
  irq?: number;
}

/**
 * A 16550A UART (COM1 by default: port 0x3f8, IRQ 4) whose state every vCPU thread and the main thread share; its
 * console is a Duplex stream.
 */
export class SerialDevice extends PlacedDevice implements Device {
  readonly kind = 'serial';
  readonly idPrefix = 'serial';
  /** Its 8 ports and its interrupt line. */
  readonly needs: DeviceNeeds;
  /** The first I/O port. */
  readonly port: number;
  /** The interrupt line. */
  readonly irq: number;
  /** The UART's shared state (registers, FIFOs). */
  readonly state: SerialSharedState;
  /** The guest's side of the port as a Duplex stream. */
  readonly console: SerialConsole;

  /** Bytes the guest transmitted (`txBytes`) and was given (`rxBytes`) through its console. */
  get counters(): DeviceCounters<(typeof SERIAL_COUNTERS)[number]> {
    return this.console.counters;
  }

  /**
   * Makes the UART and its console stream.
   * @throws Nothing.
   */
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

  /**
   * @throws Nothing.
   */
  connect(_vcpu: number, port: MessagePort): void {
    port.on('message', () => this.console.outputReady());
  }

  /**
   * @throws Nothing.
   */
  attach(context: MachineAttachContext): void {
    this.console.bindIrq((level) => context.vm.irqLine(this.irq, level));
  }

  /**
   * @throws Nothing.
   */
  async quiesce(): Promise<void> {
    this.console.finish();
  }

  /**
   * @throws Nothing.
   */
  kernelCmdline(): string {
    return '';
  }

  /**
   * COM1, COM2, ... by ordinal, as PNP0501 with its ports and edge-triggered line.
   * @throws Nothing.
   */
  acpiNode(): Uint8Array {
    const ordinal = this.placement.ordinal;
    return device(
      `COM${ordinal + 1}`,
      name('_HID', eisaId('PNP0501')),
      name('_UID', integer(ordinal + 1)),
      name('_CRS', resourceTemplate(ioPorts(this.port, UART_PORT_COUNT), extendedInterrupt(this.irq, { edge: true }))),
    );
  }

  /**
   * @throws Nothing.
   */
  saveState(): unknown {
    return saveSharedBuffers({ registers: this.state.registers, tx: this.state.tx, rx: this.state.rx });
  }

  /**
   * @throws {@link ConfigError} when the state is not a saved UART state.
   */
  restoreState(state: unknown): void {
    restoreSharedBuffers(`serial ${this.id}`, { registers: this.state.registers, tx: this.state.tx, rx: this.state.rx }, state);
  }
}
