// The main thread's end of a serial port: a Duplex stream. Reading gives what the guest transmitted;
// writing feeds the guest's receiver (with back-pressure: bytes the receive FIFO cannot take yet are
// retried, never dropped). Its SerialDevice drains it when the vCPU-thread half reports output and
// ends it when the machine has stopped.
import { Duplex } from 'node:stream';
import { Serial8250 } from './serial-8250';
import type { SerialSharedState } from './serial-state';

/** How long to wait before retrying input the guest's receiver had no room for. */
const INPUT_RETRY_MS = 2;

export class SerialConsole extends Duplex {
  readonly #device: Serial8250;
  #setIrq: ((level: boolean) => void) | undefined;
  #ended = false;

  constructor(state: SerialSharedState) {
    super();
    this.#device = new Serial8250(state, {
      setIrq: (level) => {
        if (!this.#ended) this.#setIrq?.(level);
      },
    });
  }

  /** @internal The interrupt line input raises (set by the SerialDevice once the VM exists). */
  bindIrq(setIrq: (level: boolean) => void): void {
    this.#setIrq = setIrq;
  }

  /** @internal The guest transmitted: push what it wrote to readers. */
  outputReady(): void {
    this.#drain();
  }

  /** @internal The machine stopped: deliver what is left, then end the readable side. */
  finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#drain();
    this.push(null);
  }

  override _read(): void {
    this.#drain();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const feed = (bytes: Uint8Array): void => {
      if (this.#ended) {
        callback(); // the guest is gone: nothing will read this input
        return;
      }
      const accepted = this.#device.receive(bytes);
      if (accepted === bytes.length) {
        callback();
        return;
      }
      setTimeout(() => feed(bytes.subarray(accepted)), INPUT_RETRY_MS);
    };
    feed(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }

  #drain(): void {
    for (;;) {
      const bytes = this.#device.drainOutput();
      if (bytes.length === 0) return;
      this.push(Buffer.from(bytes));
    }
  }
}
