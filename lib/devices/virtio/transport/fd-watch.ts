// Watching eventfds by number on this thread's event loop. A back end may run on a thread that does
// not own its device's eventfds (an I/O thread): the device's main-thread half owns and closes them,
// the back end's thread only polls and reads them.
import { DeviceError, nativeCall } from '../../../kvm/errors';
import { native, type NativeFdWatcher } from '../../../native/binding';

export class EventFdWatch {
  readonly fd: number;
  #watcher: NativeFdWatcher | undefined;

  constructor(fd: number) {
    this.fd = fd;
  }

  /** Calls `onSignal` after each batch of signals (the counter is taken first); `onError` if polling fails. */
  start(onSignal: () => void, onError: (error: Error) => void): void {
    this.stop();
    this.#watcher = nativeCall(() =>
      native().watchFd(this.fd, (status) => {
        try {
          if (status < 0) throw new DeviceError(`polling eventfd ${this.fd} failed (libuv status ${status})`);
          if (nativeCall(() => native().eventfdRead(this.fd)) !== null) onSignal();
        } catch (error) {
          onError(error instanceof Error ? error : new DeviceError(String(error)));
        }
      }),
    );
  }

  stop(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}

/** Adds 1 to an eventfd's counter (an irqfd write injects its interrupt). */
export function signalEventFd(fd: number): void {
  nativeCall(() => native().eventfdWrite(fd, 1));
}
