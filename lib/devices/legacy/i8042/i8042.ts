// The vCPU-thread half of the i8042 (device.ts): a minimal keyboard controller, enough for Linux's
// probe (self-test, command byte), the reset line (command 0xFE to port 0x64 ends the VM with reason
// 'reset') and keys the host puts in (Ctrl-Alt-Del, as Firecracker's SendCtrlAltDel). State sits in a
// SharedArrayBuffer: any vCPU thread, and the main thread that puts keys in, may touch it.
import type { BusDevice } from '../../../bus/io-bus';
import type { DeviceContext } from '../../../runner/device-context';
import { SharedLock } from '../../shared-lock';

export const I8042_DATA_PORT = 0x60;
export const I8042_COMMAND_PORT = 0x64;
/** The keyboard's ISA interrupt, raised (an edge) for each byte of a key the host put in. */
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

/** The controller's output buffer, in bytes (a key sequence that does not fit is refused whole). */
export const I8042_BUFFER_BYTES = 16;

/** Scan code set 2, what a keyboard sends: left Ctrl, left Alt, and Delete (an extended key). */
export const KEY_CTRL = 0x14;
export const KEY_ALT = 0x11;
export const KEY_DELETE = 0xe071;
const EXTENDED_PREFIX = 0xe0;
/**
 * Set 2 to set 1, what the controller passes on while the command byte has TRANSLATE (the default, and
 * what Linux keeps): only the codes this controller puts in.
 */
const SET1_OF_SET2 = new Map<number, number>([
  [KEY_CTRL, 0x1d],
  [KEY_ALT, 0x38],
  [KEY_DELETE & 0xff, 0x53],
  [EXTENDED_PREFIX, EXTENDED_PREFIX],
]);

const Slot = { STATUS: 0, CONFIG: 1, PENDING_COMMAND: 2, PORT_B: 3, LOCK: 4, HEAD: 5, TAIL: 6, BUFFER: 7 } as const;
const SLOTS = Slot.BUFFER + I8042_BUFFER_BYTES;

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

/**
 * HEAD and TAIL run over twice the buffer's size, so a full buffer (TAIL - HEAD = its size) differs
 * from an empty one (TAIL = HEAD); the slot is the index modulo the size.
 */
function advance(index: number): number {
  return (index + 1) % (2 * I8042_BUFFER_BYTES);
}

/** The keyboard line's edge: raised and lowered at once (an ISA edge-triggered interrupt). */
export type KeyboardInterrupt = () => void;

/**
 * The controller's output buffer and status, shared by the vCPU threads (which read it) and the main
 * thread (which puts keys in): a FIFO of bytes under one lock.
 */
export class I8042Output {
  readonly #words: Int32Array;
  readonly #lock: SharedLock;

  constructor(state: SharedArrayBuffer) {
    this.#words = new Int32Array(state);
    this.#lock = new SharedLock(this.#words, Slot.LOCK);
  }

  /** Takes the oldest byte (0 when empty); `more` says whether bytes remain. */
  pop(): { value: number; more: boolean } {
    this.#lock.lock();
    try {
      const head = this.#words[Slot.HEAD] as number;
      const tail = this.#words[Slot.TAIL] as number;
      if (head === tail) return { value: 0, more: false };
      const value = this.#words[Slot.BUFFER + (head % I8042_BUFFER_BYTES)] as number;
      const next = advance(head);
      this.#words[Slot.HEAD] = next;
      const more = next !== tail;
      if (!more) Atomics.and(this.#words, Slot.STATUS, ~STATUS_OUTPUT_FULL);
      return { value, more };
    } finally {
      this.#lock.unlock();
    }
  }

  /** A command's answer: what was waiting is dropped, the answer is all there is to read. */
  answer(value: number): void {
    this.#lock.lock();
    try {
      this.#words[Slot.HEAD] = 0;
      this.#words[Slot.TAIL] = 0;
      this.#push(value);
    } finally {
      this.#lock.unlock();
    }
  }

  /** Drops what waits to be read (a command byte the guest writes supersedes it). */
  flush(): void {
    this.#lock.lock();
    try {
      this.#words[Slot.HEAD] = this.#words[Slot.TAIL] as number;
      Atomics.and(this.#words, Slot.STATUS, ~STATUS_OUTPUT_FULL);
    } finally {
      this.#lock.unlock();
    }
  }

  /**
   * Puts a key sequence in (set 2 codes, translated to set 1 while TRANSLATE is on). False, and nothing
   * put in, when the buffer lacks room for all of it.
   */
  putKeys(keys: readonly number[]): boolean {
    this.#lock.lock();
    try {
      const translate = ((this.#words[Slot.CONFIG] as number) & CONFIG_TRANSLATE) !== 0;
      const bytes = keys.flatMap((key) => (key > 0xff ? [key >> 8, key & 0xff] : [key])).map((code) => (translate ? (SET1_OF_SET2.get(code) ?? code) : code));
      if (this.#length() + bytes.length > I8042_BUFFER_BYTES) return false;
      for (const value of bytes) this.#push(value);
      return true;
    } finally {
      this.#lock.unlock();
    }
  }

  /** Whether the guest left the keyboard interrupt enabled in the command byte. */
  interruptEnabled(): boolean {
    return ((this.#words[Slot.CONFIG] as number) & CONFIG_KBD_INT) !== 0;
  }

  #length(): number {
    return ((this.#words[Slot.TAIL] as number) - (this.#words[Slot.HEAD] as number) + 2 * I8042_BUFFER_BYTES) % (2 * I8042_BUFFER_BYTES);
  }

  /** Under the lock, with room checked. */
  #push(value: number): void {
    const tail = this.#words[Slot.TAIL] as number;
    this.#words[Slot.BUFFER + (tail % I8042_BUFFER_BYTES)] = value & 0xff;
    this.#words[Slot.TAIL] = advance(tail);
    Atomics.or(this.#words, Slot.STATUS, STATUS_OUTPUT_FULL);
  }
}

export class I8042 {
  readonly #words: Int32Array;
  readonly #output: I8042Output;
  readonly #onReset: () => void;
  readonly #interrupt: KeyboardInterrupt;

  constructor(state: SharedArrayBuffer, onReset: () => void, interrupt: KeyboardInterrupt = () => undefined) {
    this.#words = new Int32Array(state);
    this.#output = new I8042Output(state);
    this.#onReset = onReset;
    this.#interrupt = interrupt;
  }

  readData(): number {
    const { value, more } = this.#output.pop();
    // One edge per byte: the driver's handler reads one byte per interrupt.
    if (more && this.#output.interruptEnabled()) this.#interrupt();
    return value;
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
        this.#output.answer(Atomics.load(this.#words, Slot.CONFIG));
        break;
      case I8042_CMD_WRITE_CONFIG:
        this.#output.flush();
        Atomics.store(this.#words, Slot.PENDING_COMMAND, command);
        break;
      case I8042_CMD_AUX_LOOP:
      case I8042_CMD_WRITE_AUX:
        Atomics.store(this.#words, Slot.PENDING_COMMAND, command);
        break;
      case I8042_CMD_AUX_TEST:
        this.#output.answer(I8042_AUX_TEST_NO_PORT);
        break;
      case I8042_CMD_SELF_TEST:
        this.#output.answer(I8042_SELF_TEST_OK);
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
  const controller = new I8042(state, () => context.requestExit({ kind: 'reset' }), () => {
    context.irqLine(I8042_IRQ, true);
    context.irqLine(I8042_IRQ, false);
  });
  context.pio.register(I8042_DATA_PORT, 1, bytePort(() => controller.readData(), (v) => controller.writeData(v)), 'i8042-data');
  context.pio.register(I8042_COMMAND_PORT, 1, bytePort(() => controller.readStatus(), (v) => controller.writeCommand(v)), 'i8042-command');
  context.pio.register(SYSTEM_CONTROL_PORT_B, 1, bytePort(() => controller.readPortB(), (v) => controller.writePortB(v)), 'port-b');
}
