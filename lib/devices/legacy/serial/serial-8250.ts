// A 16550A UART. All state is in a SerialSharedState, so several threads (each vCPU worker, plus the
// main thread feeding input and draining output) each construct a Serial8250 over the same buffers;
// every access runs under the state's lock. Transmitted bytes go to a ring the host drains; the host
// never makes the guest wait for a baud clock, so THR is empty again right after each write.
import type { BusDevice } from '../../../bus/io-bus';
import { Fcr, Iir, Ier, Lcr, Lsr, Mcr, Msr, UART_FIFO_SIZE, UartReg } from './registers';
import { SharedLock } from '../../shared-lock';
import { SharedByteRing } from './shared-ring';
import { Slot, type SerialSharedState } from './serial-state';

export * from './registers';
export { createSerialState, isSerialSharedState, type SerialOptions, type SerialSharedState } from './serial-state';

export interface SerialHooks {
  /**
   * Drives the interrupt line; called only when its level changes, while the state's lock is held
   * (so calls from different threads cannot reorder). Must not access the UART.
   */
  setIrq(level: boolean): void;
  /** Output became pending: the TX ring went from empty to non-empty. Called after the lock is released. */
  onTransmit?(): void;
}

const NO_BYTE = 0;
const OPEN_BUS = 0xff;
const MODEM_STATUS_NO_LOOPBACK = Msr.DCD | Msr.DSR | Msr.CTS;

export class Serial8250 implements BusDevice {
  readonly #slots: Int32Array;
  readonly #lock: SharedLock;
  readonly #tx: SharedByteRing;
  readonly #rx: SharedByteRing;
  readonly #hooks: SerialHooks;

  constructor(state: SerialSharedState, hooks: SerialHooks) {
    this.#slots = new Int32Array(state.registers, 0, Slot.COUNT);
    this.#lock = new SharedLock(this.#slots, Slot.LOCK);
    this.#tx = new SharedByteRing(state.tx);
    this.#rx = new SharedByteRing(state.rx);
    this.#hooks = hooks;
  }

  /** Byte-wide registers: a wider access touches consecutive registers, one byte each. */
  read(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      this.#lock.lock();
      try {
        data[i] = this.#readRegister(offset + i);
        this.#updateIrq();
      } finally {
        this.#lock.unlock();
      }
    }
  }

  write(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      let transmitted: boolean;
      this.#lock.lock();
      try {
        transmitted = this.#writeRegister(offset + i, data[i]);
        this.#updateIrq();
      } finally {
        this.#lock.unlock();
      }
      if (transmitted) this.#hooks.onTransmit?.();
    }
  }

  /** Host input: queues as many bytes as fit and returns how many (the rest are the caller's to retry). */
  receive(bytes: Uint8Array): number {
    this.#lock.lock();
    try {
      const accepted = this.#rx.push(bytes);
      this.#updateIrq();
      return accepted;
    } finally {
      this.#lock.unlock();
    }
  }

  /**
   * Host side: takes up to `max` bytes the guest transmitted, oldest first. onTransmit fires again only
   * once the ring has been emptied, so after a wake-up drain until this returns no bytes.
   */
  drainOutput(max?: number): Uint8Array {
    this.#lock.lock();
    try {
      const bytes = this.#tx.pop(max);
      if (this.#slots[Slot.TX_STARVED] !== 0 && this.#txHasRoom()) {
        this.#slots[Slot.TX_STARVED] = 0;
        this.#slots[Slot.THRE_PENDING] = 1;
        this.#updateIrq();
      }
      return bytes;
    } finally {
      this.#lock.unlock();
    }
  }

  /** The interrupt line level last passed to setIrq. */
  get irqLevel(): boolean {
    return Atomics.load(this.#slots, Slot.IRQ_LEVEL) !== 0;
  }

  /** Output bytes waiting for drainOutput. */
  get pendingOutput(): number {
    return this.#tx.size;
  }

  /** Room for receive(). */
  get inputFree(): number {
    return this.#rx.free;
  }

  /** Bytes the guest wrote while the TX ring was full (it ignored LSR.THRE), and so were lost. */
  get droppedOutput(): number {
    return Atomics.load(this.#slots, Slot.TX_DROPPED);
  }

  #readRegister(offset: number): number {
    const s = this.#slots;
    const dlab = (s[Slot.LCR] & Lcr.DLAB) !== 0;
    switch (offset) {
      case UartReg.RBR: {
        if (dlab) return s[Slot.DLL];
        const byte = this.#rx.popByte();
        return byte < 0 ? NO_BYTE : byte;
      }
      case UartReg.IER:
        return dlab ? s[Slot.DLM] : s[Slot.IER];
      case UartReg.IIR: {
        const iir = this.#iir();
        if ((iir & Iir.ID_MASK) === Iir.THRI) s[Slot.THRE_PENDING] = 0;
        return iir;
      }
      case UartReg.LCR:
        return s[Slot.LCR];
      case UartReg.MCR:
        return s[Slot.MCR];
      case UartReg.LSR: {
        const lsr = this.#lsr();
        s[Slot.LSR_ERRORS] = 0;
        return lsr;
      }
      case UartReg.MSR: {
        const msr = this.#modemStatus() | (s[Slot.MSR_DELTA]);
        s[Slot.MSR_DELTA] = 0;
        return msr;
      }
      case UartReg.SCR:
        return s[Slot.SCR];
      default:
        return OPEN_BUS;
    }
  }

  /** Returns true when this write made output pending (the TX ring was empty). */
  #writeRegister(offset: number, value: number): boolean {
    const s = this.#slots;
    const dlab = (s[Slot.LCR] & Lcr.DLAB) !== 0;
    switch (offset) {
      case UartReg.THR:
        if (dlab) {
          s[Slot.DLL] = value;
          return false;
        }
        return this.#transmit(value);
      case UartReg.IER:
        if (dlab) s[Slot.DLM] = value;
        else this.#writeIer(value & Ier.MASK);
        return false;
      case UartReg.FCR:
        if ((value & Fcr.CLEAR_RCVR) !== 0) this.#rx.discard();
        // CLEAR_XMIT has nothing to do: bytes in the TX ring have already left the UART.
        s[Slot.FCR] = (value & Fcr.ENABLE_FIFO) !== 0 ? value & (Fcr.ENABLE_FIFO | Fcr.TRIGGER_MASK) : 0;
        return false;
      case UartReg.LCR:
        s[Slot.LCR] = value;
        return false;
      case UartReg.MCR: {
        const before = this.#modemStatus();
        s[Slot.MCR] = value & Mcr.MASK;
        s[Slot.MSR_DELTA] = (s[Slot.MSR_DELTA]) | modemDeltas(before, this.#modemStatus());
        return false;
      }
      case UartReg.SCR:
        s[Slot.SCR] = value;
        return false;
      default:
        // LSR and MSR writes (factory test modes) are ignored.
        return false;
    }
  }

  #transmit(value: number): boolean {
    const s = this.#slots;
    let madePending = false;
    if ((s[Slot.MCR] & Mcr.LOOP) !== 0) {
      if (!this.#rx.pushByte(value)) s[Slot.LSR_ERRORS] = (s[Slot.LSR_ERRORS]) | Lsr.OE;
    } else {
      const wasEmpty = this.#tx.size === 0;
      if (this.#tx.pushByte(value)) madePending = wasEmpty;
      else s[Slot.TX_DROPPED] = (s[Slot.TX_DROPPED]) + 1;
    }
    s[Slot.THRE_PENDING] = 0;
    this.#armThre();
    return madePending;
  }

  #writeIer(value: number): void {
    const enabling = (value & Ier.THRI) !== 0 && ((this.#slots[Slot.IER]) & Ier.THRI) === 0;
    this.#slots[Slot.IER] = value;
    if (enabling) this.#armThre();
  }

  /** THR is (again) empty: the THRE interrupt is pending now, or once the host makes room. */
  #armThre(): void {
    if (this.#txHasRoom()) this.#slots[Slot.THRE_PENDING] = 1;
    else this.#slots[Slot.TX_STARVED] = 1;
  }

  /**
   * THR counts as empty while a full FIFO's worth still fits: Linux writes up to that many bytes per
   * THRE interrupt without re-reading LSR.
   */
  #txHasRoom(): boolean {
    return this.#tx.free >= UART_FIFO_SIZE;
  }

  #lsr(): number {
    const ready = this.#rx.size > 0 ? Lsr.DR : 0;
    const empty = this.#txHasRoom() ? Lsr.THRE | Lsr.TEMT : 0;
    return ready | empty | (this.#slots[Slot.LSR_ERRORS]);
  }

  /** MSR's status half: in loopback the modem outputs feed the inputs, otherwise a carrier is up. */
  #modemStatus(): number {
    const mcr = this.#slots[Slot.MCR];
    if ((mcr & Mcr.LOOP) === 0) return MODEM_STATUS_NO_LOOPBACK;
    return (
      (mcr & Mcr.DTR ? Msr.DSR : 0) | (mcr & Mcr.RTS ? Msr.CTS : 0) | (mcr & Mcr.OUT1 ? Msr.RI : 0) | (mcr & Mcr.OUT2 ? Msr.DCD : 0)
    );
  }

  /** The highest-priority enabled pending source. */
  #iir(): number {
    const s = this.#slots;
    const ier = s[Slot.IER];
    let id: number = Iir.NO_INT;
    if (ier & Ier.RLSI && s[Slot.LSR_ERRORS] !== 0) id = Iir.RLSI;
    else if (ier & Ier.RDI && this.#rx.size > 0) id = Iir.RDI;
    else if (ier & Ier.THRI && s[Slot.THRE_PENDING] !== 0) id = Iir.THRI;
    else if (ier & Ier.MSI && s[Slot.MSR_DELTA] !== 0) id = Iir.MSI;
    return id | ((s[Slot.FCR]) & Fcr.ENABLE_FIFO ? Iir.FIFO_ENABLED : 0);
  }

  #updateIrq(): void {
    const level = (this.#iir() & Iir.NO_INT) === 0 ? 1 : 0;
    if (this.#slots[Slot.IRQ_LEVEL] === level) return;
    Atomics.store(this.#slots, Slot.IRQ_LEVEL, level);
    this.#hooks.setIrq(level === 1);
  }
}

/** MSR delta bits for a change of the status half: any change of CTS, DSR or DCD; RI going low. */
function modemDeltas(before: number, after: number): number {
  const changed = before ^ after;
  return (
    (changed & Msr.CTS ? Msr.DCTS : 0) |
    (changed & Msr.DSR ? Msr.DDSR : 0) |
    (changed & Msr.DCD ? Msr.DDCD : 0) |
    (before & Msr.RI && !(after & Msr.RI) ? Msr.TERI : 0)
  );
}
