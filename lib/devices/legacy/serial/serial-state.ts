// Where a 16550's state lives: everything in SharedArrayBuffers, so each thread that can touch the
// UART (every vCPU worker, and the main thread feeding input) builds its own Serial8250 over them.
import { SharedByteRing } from './shared-ring';

/** Structured-cloneable: pass it to workers as is. */
export interface SerialSharedState {
  /** Int32 slots indexed by `Slot`, the lock among them. */
  readonly registers: SharedArrayBuffer;
  /** Device -> host bytes (a SharedByteRing). */
  readonly tx: SharedArrayBuffer;
  /** Host -> device bytes (a SharedByteRing). */
  readonly rx: SharedArrayBuffer;
}

export interface SerialOptions {
  /** Bytes of guest output buffered until the host drains them (power of two; default 64 KiB). */
  txCapacity?: number;
  /** Bytes of input buffered until the guest reads them (power of two; default 4 KiB). */
  rxCapacity?: number;
}

const DEFAULT_TX_CAPACITY = 64 * 1024;
const DEFAULT_RX_CAPACITY = 4 * 1024;
/** 115200 / 12 = 9600 baud, a common firmware default. */
const DEFAULT_DIVISOR = 12;

export const Slot = {
  LOCK: 0,
  IER: 1,
  LCR: 2,
  MCR: 3,
  SCR: 4,
  DLL: 5,
  DLM: 6,
  FCR: 7,
  /** The THR-empty interrupt is pending (cleared by an IIR read that reports it, or a THR write). */
  THRE_PENDING: 8,
  /** A THRE interrupt is owed once the host frees room in the TX ring. */
  TX_STARVED: 9,
  /** Sticky LSR error bits, cleared by reading LSR. */
  LSR_ERRORS: 10,
  /** MSR delta bits, cleared by reading MSR. */
  MSR_DELTA: 11,
  /** The interrupt line level last passed to setIrq (0 or 1). */
  IRQ_LEVEL: 12,
  /** Bytes written to THR while the TX ring was full (a guest ignoring LSR.THRE). */
  TX_DROPPED: 13,
  COUNT: 14,
} as const;

export function createSerialState(options: SerialOptions = {}): SerialSharedState {
  const registers = new SharedArrayBuffer(Slot.COUNT * Int32Array.BYTES_PER_ELEMENT);
  const slots = new Int32Array(registers);
  slots[Slot.DLL] = DEFAULT_DIVISOR;
  return {
    registers,
    tx: SharedByteRing.allocate(options.txCapacity ?? DEFAULT_TX_CAPACITY),
    rx: SharedByteRing.allocate(options.rxCapacity ?? DEFAULT_RX_CAPACITY),
  };
}

export function isSerialSharedState(value: unknown): value is SerialSharedState {
  if (typeof value !== 'object' || value === null) return false;
  const state = value as Partial<SerialSharedState>;
  return (
    state.registers instanceof SharedArrayBuffer &&
    state.registers.byteLength >= Slot.COUNT * Int32Array.BYTES_PER_ELEMENT &&
    state.tx instanceof SharedArrayBuffer &&
    state.rx instanceof SharedArrayBuffer
  );
}
