// Where a virtio-net back end's frames come from and go to: a TAP's fd (on whichever thread the back
// end runs: the device owns and closes the fd), or anything with the same shape (tests).
import { nativeCall } from '../../../kvm/errors';
import { native, type NativeFdWatcher } from '../../../native/binding';

export interface FrameDevice {
  /** Reads one frame into the views; null when none is waiting. */
  read(into: Uint8Array[]): number | null;
  /** Writes one frame gathered from the views; null when the interface cannot take it now. */
  write(from: Uint8Array[]): number | null;
  /** Calls onReadable on this thread's event loop while frames are waiting (until unwatch()). */
  watch(onReadable: () => void): void;
  unwatch(): void;
  readonly watching: boolean;
}

/** A non-blocking TAP fd this thread does not own. */
export class FdFrames implements FrameDevice {
  readonly #fd: number;
  #watcher: NativeFdWatcher | undefined;

  constructor(fd: number) {
    this.#fd = fd;
  }

  read(into: Uint8Array[]): number | null {
    return nativeCall(() => native().readvFd(this.#fd, into));
  }

  write(from: Uint8Array[]): number | null {
    return nativeCall(() => native().writevFd(this.#fd, from));
  }

  watch(onReadable: () => void): void {
    this.unwatch();
    this.#watcher = nativeCall(() => native().watchFd(this.#fd, () => onReadable()));
  }

  unwatch(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  get watching(): boolean {
    return this.#watcher !== undefined;
  }
}
