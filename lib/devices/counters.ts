// Counters a device keeps where every thread can read them: float64 slots in a SharedArrayBuffer,
// written by the one thread that runs the device's back end and read by the main thread (metrics,
// tests). A float64 holds integers exactly up to 2^53.
import { ConfigError } from '../kvm/errors';

/**
 * Counters a device keeps where every thread can read them: float64 slots in a SharedArrayBuffer written by the
 * back end's thread.
 */
export class DeviceCounters<N extends string = string> {
  /** The counters' names, in slot order. */
  readonly names: readonly N[];
  /** The shared memory the values live in. */
  readonly buffer: SharedArrayBuffer;
  readonly #values: Float64Array;
  readonly #index: Readonly<Record<string, number>>;

  /**
   * Makes counters over a new SharedArrayBuffer, or over `buffer` (the same counters seen from another thread).
   * @throws {@link ConfigError} when `buffer` does not hold exactly one float64 per name.
   */
  constructor(names: readonly N[], buffer?: SharedArrayBuffer) {
    this.names = names;
    this.buffer = buffer ?? new SharedArrayBuffer(names.length * Float64Array.BYTES_PER_ELEMENT);
    if (this.buffer.byteLength !== names.length * Float64Array.BYTES_PER_ELEMENT) throw new ConfigError(`counter buffer of ${this.buffer.byteLength} bytes does not hold ${names.length} counters`);
    this.#values = new Float64Array(this.buffer);
    this.#index = Object.fromEntries(names.map((name, i) => [name, i]));
  }

  /**
   * The same counters seen from another thread: pass `{ names, buffer }` there.
   * @throws {@link ConfigError} when the buffer does not match the names.
   */
  static from<N extends string>(shared: { names: readonly N[]; buffer: SharedArrayBuffer }): DeviceCounters<N> {
    return new DeviceCounters(shared.names, shared.buffer);
  }

  /** What another thread needs to see the same counters (`DeviceCounters.from(shared)`). */
  get shared(): { names: readonly N[]; buffer: SharedArrayBuffer } {
    return { names: this.names, buffer: this.buffer };
  }

  /**
   * Adds `amount` (default 1) to a running total.
   * @throws Nothing.
   */
  add(name: N, amount = 1): void {
    const index = this.#index[name] as number;
    this.#values[index] = (this.#values[index] as number) + amount;
  }

  /**
   * Sets a gauge (a level, not a running total).
   * @throws Nothing.
   */
  set(name: N, value: number): void {
    this.#values[this.#index[name] as number] = value;
  }

  /**
   * Raises a high-water mark to `value` if it is higher.
   * @throws Nothing.
   */
  max(name: N, value: number): void {
    const index = this.#index[name] as number;
    if (value > (this.#values[index] as number)) this.#values[index] = value;
  }

  /**
   * The current value of one counter.
   * @throws Nothing.
   */
  get(name: N): number {
    return this.#values[this.#index[name] as number] as number;
  }

  /**
   * Every counter's current value.
   * @throws Nothing.
   */
  read(): Record<N, number> {
    const out = {} as Record<N, number>;
    this.names.forEach((name, i) => {
      out[name] = this.#values[i] as number;
    });
    return out;
  }
}
