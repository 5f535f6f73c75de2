// The main thread's end of a serial port: a Duplex stream. Reading gives what the guest transmitted;
// writing feeds the guest's receiver (with back-pressure: bytes the receive FIFO cannot take yet are
// retried, never dropped). Its SerialDevice drains it when the vCPU-thread half reports output and
// ends it when the machine has stopped.
import { Duplex } from 'node:stream';
import { DeviceCounters } from '../../counters';
import { Serial8250 } from './serial-8250';
import type { SerialSharedState } from './serial-state';

/** What the console counts: bytes the guest transmitted (read from the stream), bytes it was given (written to it). */
export const SERIAL_COUNTERS = ['txBytes', 'rxBytes'] as const;

/** How long to wait before retrying input the guest's receiver had no room for. */
const INPUT_RETRY_MS = 2;

/**
 * The guest's serial port as a Duplex stream: what the guest writes is read from it, what is written to it the
 * guest receives.
 */
export class SerialConsole extends Duplex {
  readonly #device: Serial8250;
  /** Bytes through the port each way (vm.metrics(), Firecracker's uart section). */
  readonly counters = new DeviceCounters(SERIAL_COUNTERS);
  #setIrq: ((level: boolean) => void) | undefined;
  #ended = false;

  /**
   * Makes the stream over the UART's shared state.
   * @throws Nothing.
   */
  constructor(state: SerialSharedState) {
    super();
    this.#device = new Serial8250(state, {
      setIrq: (level) => {
        if (!this.#ended) this.#setIrq?.(level);
      },
    });
  }

  /**
   * Connects the stream to the UART's interrupt line (the machine does this).
   * @internal The interrupt line input raises (set by the SerialDevice once the VM exists).
   * @throws Nothing.
   */
  bindIrq(setIrq: (level: boolean) => void): void {
    this.#setIrq = setIrq;
  }

  /**
   * Tells the stream the guest wrote output (called when the vCPU half says so).
   * @internal The guest transmitted: push what it wrote to readers.
   * @throws Nothing.
   */
  outputReady(): void {
    this.#drain();
  }

  /**
   * Hands over what is left of the guest's output and ends the readable side.
   * @internal The machine stopped: deliver what is left, then end the readable side.
   * @throws Nothing.
   */
  finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#drain();
    this.push(null);
  }

  /**
   * Readable's hook: output is pushed as it comes.
   * @throws Nothing.
   */
  override _read(): void {
    this.#drain();
  }

  /**
   * Writable's hook: queues bytes for the guest's receive FIFO.
   * @throws Nothing: bytes past the 4 KiB input buffer wait.
   */
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const feed = (bytes: Uint8Array): void => {
      if (this.#ended) {
        callback(); // the guest is gone: nothing will read this input
        return;
      }
      const accepted = this.#device.receive(bytes);
      this.counters.add('rxBytes', accepted);
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
      this.counters.add('txBytes', bytes.length);
      this.push(Buffer.from(bytes));
    }
  }
}
