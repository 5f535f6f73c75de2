// The main thread's end of a serial port: a Duplex stream. Reading gives what the guest transmitted;
// writing feeds the guest's receiver (with back-pressure: bytes the receive FIFO cannot take yet are
// retried, never dropped). Works with the 'serial-module' device loaded in every vCPU worker.
import { Duplex } from 'node:stream';
import type { Machine } from '../../../runner/machine';
import { isSerialOutputMessage } from './serial-module';
import { Serial8250 } from './serial-8250';
import type { SerialSharedState } from './serial-state';

/** How long to wait before retrying input the guest's receiver had no room for. */
const INPUT_RETRY_MS = 2;

export class SerialConsole extends Duplex {
  readonly #device: Serial8250;
  #ended = false;

  constructor(machine: Machine, state: SerialSharedState, irq: number) {
    super();
    this.#device = new Serial8250(state, {
      setIrq: (level) => {
        if (!this.#ended) machine.vm.irqLine(irq, level);
      },
    });
    machine.on('device-message', (_vcpu, payload) => {
      if (isSerialOutputMessage(payload)) this.#drain();
    });
    void machine.exited.then(() => {
      this.#ended = true;
      this.#drain();
      this.push(null);
    });
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
