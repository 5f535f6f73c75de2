// The vCPU-thread half of the i8042 (device.ts): a minimal keyboard controller, enough for Linux's
// probe (self-test, command byte) and, what it is here for, the reset line: command 0xFE to port 0x64
// ends the VM with reason 'reset'. State sits in a SharedArrayBuffer: any vCPU thread may touch it.
import type { BusDevice } from '../../../bus/io-bus';
import type { DeviceContext } from '../../../runner/device-context';

export const I8042_DATA_PORT = 0x60;
export const I8042_COMMAND_PORT = 0x64;
/** The keyboard's ISA interrupt (the device raises none: it only answers Linux's probe). */
export const I8042_IRQ = 1;
/** Port 0x61 (system control port B) is read by Linux's timer calibration; it answers from here too. */
export const SYSTEM_CONTROL_PORT_B = 0x61;

export const I8042_CMD_READ_CONFIG = 0x20;
export const I8042_CMD_WRITE_CONFIG = 0x60;
export const I8042_CMD_DISABLE_AUX = 0xa7;
export const I8042_CMD_ENABLE_AUX = 0xa8;
export const I8042_CMD_AUX_TEST = 0xa9;
export const I8042_CMD_AUX_LOOP = 0xd3;
export const I8042_CMD_WRITE_AUX = 0xd4;
export const I8042_CMD_SELF_TEST = 0xaa;
export const I8042_CMD_DISABLE_KBD = 0xad;
export const I8042_CMD_ENABLE_KBD = 0xae;
export const I8042_CMD_PULSE_RESET = 0xfe;
export const I8042_SELF_TEST_OK = 0x55;
/** AUX_TEST's "clock line stuck low": there is no auxiliary (mouse) port behind this controller. */
export const I8042_AUX_TEST_NO_PORT = 0x01;

const STATUS_OUTPUT_FULL = 0x01;
const STATUS_SYSTEM_FLAG = 0x04;
const STATUS_COMMAND = 0x08;
/** The keyboard inhibit switch, set when the keyboard is not locked; Linux warns "Keylock active" without it. */
const STATUS_NOT_INHIBITED = 0x10;
/** Command byte: keyboard interrupt, system flag, translation, and the aux port disabled for good. */
const CONFIG_KBD_INT = 0x01;
const CONFIG_AUX_INT = 0x02;
const CONFIG_SYSTEM_FLAG = 0x04;
const CONFIG_AUX_DISABLED = 0x20;
const CONFIG_TRANSLATE = 0x40;
const DEFAULT_CONFIG = CONFIG_KBD_INT | CONFIG_SYSTEM_FLAG | CONFIG_AUX_DISABLED | CONFIG_TRANSLATE;

const Slot = { STATUS: 0, CONFIG: 1, OUTPUT: 2, PENDING_COMMAND: 3, PORT_B: 4 } as const;
const SLOTS = 5;

export interface I8042Args {
  state: SharedArrayBuffer;
}

export function createI8042State(): SharedArrayBuffer {
  const state = new SharedArrayBuffer(SLOTS * 4);
  const words = new Int32Array(state);
  words[Slot.STATUS] = STATUS_SYSTEM_FLAG | STATUS_NOT_INHIBITED;
  words[Slot.CONFIG] = DEFAULT_CONFIG;
  return state;
}

export class I8042 {
  readonly #words: Int32Array;
  readonly #onReset: () => void;

  constructor(state: SharedArrayBuffer, onReset: () => void) {
    this.#words = new Int32Array(state);
    this.#onReset = onReset;
  }

  readData(): number {
    const value = Atomics.load(this.#words, Slot.OUTPUT);
    Atomics.and(this.#words, Slot.STATUS, ~STATUS_OUTPUT_FULL);
    return value & 0xff;
  }

  readStatus(): number {
    return Atomics.load(this.#words, Slot.STATUS) & 0xff;
  }

  writeData(value: number): void {
    const pending = Atomics.exchange(this.#words, Slot.PENDING_COMMAND, 0);
    Atomics.and(this.#words, Slot.STATUS, ~STATUS_COMMAND);
    // No aux port: its enable bit stays clear and its disable bit set whatever the driver writes, as
    // Linux's i8042_toggle_aux reads back to decide there is none.
    if (pending === I8042_CMD_WRITE_CONFIG) Atomics.store(this.#words, Slot.CONFIG, (value | CONFIG_AUX_DISABLED) & ~CONFIG_AUX_INT & 0xff);
    // Bytes meant for the keyboard or the aux port (AUX_LOOP, WRITE_AUX) are taken and dropped: neither exists.
  }

  writeCommand(command: number): void {
    Atomics.or(this.#words, Slot.STATUS, STATUS_COMMAND);
    switch (command) {
      case I8042_CMD_READ_CONFIG:
        this.#output(Atomics.load(this.#words, Slot.CONFIG));
        break;
      case I8042_CMD_WRITE_CONFIG:
      case I8042_CMD_AUX_LOOP:
      case I8042_CMD_WRITE_AUX:
        Atomics.store(this.#words, Slot.PENDING_COMMAND, command);
        break;
      case I8042_CMD_AUX_TEST:
        this.#output(I8042_AUX_TEST_NO_PORT);
        break;
      case I8042_CMD_SELF_TEST:
        this.#output(I8042_SELF_TEST_OK);
        break;
      case I8042_CMD_PULSE_RESET:
        this.#onReset();
        break;
      default:
        // Enable/disable keyboard or aux port (which stays disabled) and the rest: nothing to model.
        break;
    }
  }

  readPortB(): number {
    // Toggle the refresh bit (4) so code that waits for it to change makes progress.
    return Atomics.xor(this.#words, Slot.PORT_B, 0x10) & 0xff;
  }

  writePortB(value: number): void {
    Atomics.store(this.#words, Slot.PORT_B, value & 0x0f);
  }

  #output(value: number): void {
    Atomics.store(this.#words, Slot.OUTPUT, value);
    Atomics.or(this.#words, Slot.STATUS, STATUS_OUTPUT_FULL);
  }
}

/** A one-byte port: reads return `read()` in the low byte, writes pass the low byte on. */
function bytePort(read: () => number, write: (value: number) => void): BusDevice {
  return {
    read(_offset, data) {
      data.fill(0);
      data[0] = read();
    },
    write(_offset, data) {
      write(data[0] ?? 0);
    },
  };
}

export function setup(context: DeviceContext, rawArgs: unknown): void {
  const { state } = rawArgs as I8042Args;
  const controller = new I8042(state, () => context.requestExit({ kind: 'reset' }));
  context.pio.register(I8042_DATA_PORT, 1, bytePort(() => controller.readData(), (v) => controller.writeData(v)), 'i8042-data');
  context.pio.register(I8042_COMMAND_PORT, 1, bytePort(() => controller.readStatus(), (v) => controller.writeCommand(v)), 'i8042-command');
  context.pio.register(SYSTEM_CONTROL_PORT_B, 1, bytePort(() => controller.readPortB(), (v) => controller.writePortB(v)), 'port-b');
}
