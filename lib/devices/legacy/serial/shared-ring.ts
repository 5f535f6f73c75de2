// A single-producer/single-consumer byte ring in one SharedArrayBuffer, so two threads can pass bytes
// without messages. Head (written by the producer) and tail (written by the consumer) are free-running
// 32-bit counters: their difference stays exact across wrap-around because capacity < 2^31. Bytes are
// copied before the Atomics.store that publishes the new head (or tail), which orders them for the
// other side's Atomics.load.
import { ConfigError } from '../../../kvm/errors';

const HEAD = 0;
const TAIL = 1;
const HEADER_BYTES = 2 * Int32Array.BYTES_PER_ELEMENT;
const MAX_CAPACITY = 1 << 30;

function isPowerOfTwo(value: number): boolean {
  return Number.isInteger(value) && value > 0 && (value & (value - 1)) === 0;
}

export class SharedByteRing {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  readonly #indices: Int32Array;
  readonly #bytes: Uint8Array;
  readonly #mask: number;

  /** A buffer for a ring of `capacity` bytes (a power of two, at most 2^30). */
  static allocate(capacity: number): SharedArrayBuffer {
    if (!isPowerOfTwo(capacity) || capacity > MAX_CAPACITY) {
      throw new ConfigError(`ring capacity must be a power of two between 1 and ${MAX_CAPACITY}, not ${capacity}`);
    }
    return new SharedArrayBuffer(HEADER_BYTES + capacity);
  }

  /** Views a buffer made by `allocate` (in any thread). */
  constructor(buffer: SharedArrayBuffer) {
    const capacity = buffer.byteLength - HEADER_BYTES;
    if (!isPowerOfTwo(capacity) || capacity > MAX_CAPACITY) {
      throw new ConfigError(`not a ring buffer: ${buffer.byteLength} bytes is not a header plus a power of two`);
    }
    this.buffer = buffer;
    this.capacity = capacity;
    this.#indices = new Int32Array(buffer, 0, HEADER_BYTES / Int32Array.BYTES_PER_ELEMENT);
    this.#bytes = new Uint8Array(buffer, HEADER_BYTES, capacity);
    this.#mask = capacity - 1;
  }

  /** Bytes waiting to be popped. */
  get size(): number {
    return (Atomics.load(this.#indices, HEAD) - Atomics.load(this.#indices, TAIL)) | 0;
  }

  /** Room left for pushes. */
  get free(): number {
    return this.capacity - this.size;
  }

  /** Producer: appends as many of `bytes` as fit; returns how many. */
  push(bytes: Uint8Array): number {
    const head = Atomics.load(this.#indices, HEAD);
    const count = Math.min(bytes.length, this.capacity - ((head - Atomics.load(this.#indices, TAIL)) | 0));
    if (count <= 0) return 0;
    const start = head & this.#mask;
    const first = Math.min(count, this.capacity - start);
    this.#bytes.set(bytes.subarray(0, first), start);
    if (count > first) this.#bytes.set(bytes.subarray(first, count), 0);
    Atomics.store(this.#indices, HEAD, (head + count) | 0);
    return count;
  }

  /** Producer: appends one byte; false when the ring is full. */
  pushByte(value: number): boolean {
    const head = Atomics.load(this.#indices, HEAD);
    if (((head - Atomics.load(this.#indices, TAIL)) | 0) >= this.capacity) return false;
    this.#bytes[head & this.#mask] = value;
    Atomics.store(this.#indices, HEAD, (head + 1) | 0);
    return true;
  }

  /** Consumer: removes and returns up to `max` bytes (a copy). */
  pop(max = this.capacity): Uint8Array {
    const tail = Atomics.load(this.#indices, TAIL);
    const count = Math.max(0, Math.min(max, (Atomics.load(this.#indices, HEAD) - tail) | 0));
    const out = new Uint8Array(count);
    const start = tail & this.#mask;
    const first = Math.min(count, this.capacity - start);
    out.set(this.#bytes.subarray(start, start + first));
    if (count > first) out.set(this.#bytes.subarray(0, count - first), first);
    Atomics.store(this.#indices, TAIL, (tail + count) | 0);
    return out;
  }

  /** Consumer: removes and returns one byte, or -1 when the ring is empty. */
  popByte(): number {
    const tail = Atomics.load(this.#indices, TAIL);
    if (Atomics.load(this.#indices, HEAD) === tail) return -1;
    const value = this.#bytes[tail & this.#mask];
    Atomics.store(this.#indices, TAIL, (tail + 1) | 0);
    return value;
  }

  /** Consumer: drops everything waiting. */
  discard(): void {
    Atomics.store(this.#indices, TAIL, Atomics.load(this.#indices, HEAD));
  }
}
