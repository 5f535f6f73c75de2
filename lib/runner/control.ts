// The control block shared by the main thread and the vCPU workers: per vCPU, what the VMM asks for
// (request) and what the vCPU is doing (state). Int32 slots so both sides can Atomics.wait/notify.

/** SAVE: a paused vCPU reports its whole state, then stays paused. */
export const Request = { NONE: 0, RUN: 1, PAUSE: 2, STOP: 3, SAVE: 4 } as const;
export const State = { STARTING: 0, RUNNING: 1, PAUSED: 2, EXITED: 3 } as const;

const SLOTS_PER_VCPU = 2;
const REQUEST_SLOT = 0;
const STATE_SLOT = 1;

export class ControlBlock {
  readonly buffer: SharedArrayBuffer;
  readonly words: Int32Array;

  constructor(bufferOrVcpus: SharedArrayBuffer | number) {
    this.buffer =
      typeof bufferOrVcpus === 'number' ? new SharedArrayBuffer(bufferOrVcpus * SLOTS_PER_VCPU * Int32Array.BYTES_PER_ELEMENT) : bufferOrVcpus;
    this.words = new Int32Array(this.buffer);
  }

  requestIndex(vcpu: number): number {
    return vcpu * SLOTS_PER_VCPU + REQUEST_SLOT;
  }
  stateIndex(vcpu: number): number {
    return vcpu * SLOTS_PER_VCPU + STATE_SLOT;
  }

  request(vcpu: number): number {
    return Atomics.load(this.words, this.requestIndex(vcpu));
  }
  /** Sets the request only if it still is `expected` (a worker finishing a SAVE, say); true if it did. */
  replaceRequest(vcpu: number, expected: number, value: number): boolean {
    const index = this.requestIndex(vcpu);
    const swapped = Atomics.compareExchange(this.words, index, expected, value) === expected;
    if (swapped) Atomics.notify(this.words, index);
    return swapped;
  }

  setRequest(vcpu: number, value: number): void {
    Atomics.store(this.words, this.requestIndex(vcpu), value);
    Atomics.notify(this.words, this.requestIndex(vcpu));
  }

  state(vcpu: number): number {
    return Atomics.load(this.words, this.stateIndex(vcpu));
  }
  setState(vcpu: number, value: number): void {
    Atomics.store(this.words, this.stateIndex(vcpu), value);
    Atomics.notify(this.words, this.stateIndex(vcpu));
  }

  /** Blocks the calling (worker) thread while the request equals `current`. */
  waitWhileRequest(vcpu: number, current: number): void {
    Atomics.wait(this.words, this.requestIndex(vcpu), current);
  }

  /** Resolves once the vCPU's state is one of `states` (main thread: never blocks the event loop). */
  async waitForState(vcpu: number, states: readonly number[]): Promise<void> {
    const index = this.stateIndex(vcpu);
    for (;;) {
      const value = Atomics.load(this.words, index);
      if (states.includes(value)) return;
      const waiting = Atomics.waitAsync(this.words, index, value);
      if (waiting.async) await waiting.value;
    }
  }
}
