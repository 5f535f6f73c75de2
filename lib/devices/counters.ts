// Counters a device keeps where every thread can read them: float64 slots in a SharedArrayBuffer,
// written by the one thread that runs the device's back end and read by the main thread (metrics,
// tests). A float64 holds integers exactly up to 2^53.
import { ConfigError } from '../kvm/errors';

export class DeviceCounters<N extends string = string> {
  readonly names: readonly N[];
  readonly buffer: SharedArrayBuffer;
  readonly #values: Float64Array;
  readonly #index: Readonly<Record<string, number>>;

  constructor(names: readonly N[], buffer?: SharedArrayBuffer) {
    this.names = names;
    this.buffer = buffer ?? new SharedArrayBuffer(names.length * Float64Array.BYTES_PER_ELEMENT);
    if (this.buffer.byteLength !== names.length * Float64Array.BYTES_PER_ELEMENT) throw new ConfigError(`counter buffer of ${this.buffer.byteLength} bytes does not hold ${names.length} counters`);
    this.#values = new Float64Array(this.buffer);
    this.#index = Object.fromEntries(names.map((name, i) => [name, i]));
  }

  /** The same counters seen from another thread: pass `{ names, buffer }` there. */
  static from<N extends string>(shared: { names: readonly N[]; buffer: SharedArrayBuffer }): DeviceCounters<N> {
    return new DeviceCounters(shared.names, shared.buffer);
  }

  get shared(): { names: readonly N[]; buffer: SharedArrayBuffer } {
    return { names: this.names, buffer: this.buffer };
  }

  add(name: N, amount = 1): void {
    const index = this.#index[name] as number;
    this.#values[index] = (this.#values[index] as number) + amount;
  }

  /** Sets a gauge (a level, not a running total). */
  set(name: N, value: number): void {
    this.#values[this.#index[name] as number] = value;
  }

  /** Raises a high-water mark to `value` if it is higher. */
  max(name: N, value: number): void {
    const index = this.#index[name] as number;
    if (value > (this.#values[index] as number)) this.#values[index] = value;
  }

  get(name: N): number {
    return this.#values[this.#index[name] as number] as number;
  }

  /** Every counter's current value. */
  read(): Record<N, number> {
    const out = {} as Record<N, number>;
    this.names.forEach((name, i) => {
      out[name] = this.#values[i] as number;
    });
    return out;
  }
}
