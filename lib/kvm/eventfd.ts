// EventFd: an eventfd owned by one object, as KVM's ioeventfd (guest notifications) and irqfd
// (interrupt injection) use them. `watch` wakes a callback on this thread's event loop when the guest
// signalled it, with no thread blocked in read().
import { native, NativeFdHandle, NativeFdWatcher } from '../native/binding';
import { ClosedError, DeviceError, nativeCall } from './errors';

export class EventFd {
  readonly #handle: NativeFdHandle;
  #watcher: NativeFdWatcher | undefined;

  /** Non-blocking, so a read after a spurious wake-up returns nothing instead of blocking the loop. */
  constructor() {
    this.#handle = nativeCall(() => native().createEventfd(0, true, false));
  }

  get fd(): number {
    if (this.#handle.closed) throw new ClosedError('eventfd is closed');
    return this.#handle.fd;
  }

  /** Adds 1 to the counter (an irqfd write injects the interrupt). */
  signal(): void {
    nativeCall(() => native().eventfdWrite(this.fd, 1));
  }

  /** Takes the counter: how many signals arrived since the last take (0 if none). */
  take(): number {
    const value = nativeCall(() => native().eventfdRead(this.fd));
    return value === null ? 0 : Number(value);
  }

  /** Calls `onSignal(count)` on the event loop after each batch of signals (replaces an earlier watch). */
  watch(onSignal: (count: number) => void, onError: (error: Error) => void): void {
    this.#watcher?.close();
    this.#watcher = nativeCall(() =>
      native().watchFd(this.fd, (status) => {
        try {
          if (status < 0) throw new DeviceError(`polling eventfd ${this.fd} failed (libuv status ${status})`);
          const count = this.take();
          if (count > 0) onSignal(count);
        } catch (error) {
          onError(error instanceof Error ? error : new DeviceError(String(error)));
        }
      }),
    );
  }

  /** Stops watching, then closes the descriptor. Idempotent. */
  close(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    this.#handle.close();
  }
}
