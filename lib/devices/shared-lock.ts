// A mutex in one Int32 slot of a SharedArrayBuffer, usable from any thread (Node allows Atomics.wait on
// the main thread too). Drepper's three-state futex mutex: 0 free, 1 held, 2 held with possible
// waiters, so an uncontended unlock never calls Atomics.notify. Not reentrant.
const FREE = 0;
const HELD = 1;
const CONTENDED = 2;
const SPINS = 100;

export class SharedLock {
  readonly #words: Int32Array;
  readonly #index: number;

  constructor(words: Int32Array, index: number) {
    this.#words = words;
    this.#index = index;
  }

  lock(): void {
    const words = this.#words;
    const index = this.#index;
    let state = Atomics.compareExchange(words, index, FREE, HELD);
    if (state === FREE) return;
    for (let spin = 0; spin < SPINS; spin++) {
      if (Atomics.load(words, index) === FREE) {
        state = Atomics.compareExchange(words, index, FREE, HELD);
        if (state === FREE) return;
      }
    }
    if (state !== CONTENDED) state = Atomics.exchange(words, index, CONTENDED);
    while (state !== FREE) {
      Atomics.wait(words, index, CONTENDED);
      state = Atomics.exchange(words, index, CONTENDED);
    }
  }

  unlock(): void {
    if (Atomics.sub(this.#words, this.#index, 1) !== HELD) {
      Atomics.store(this.#words, this.#index, FREE);
      Atomics.notify(this.#words, this.#index, 1);
    }
  }
}
