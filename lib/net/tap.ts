// A TAP interface owned by this process (non-blocking): frames move between it and lists of byte
// views, and `watch` calls back on the event loop when a frame is waiting to be read.
import { ClosedError, nativeCall } from '../kvm/errors';
import { native, NativeFdHandle, NativeFdWatcher } from '../native/binding';

export class TapDevice {
  readonly name: string;
  readonly #handle: NativeFdHandle;
  #watcher: NativeFdWatcher | undefined;

  private constructor(handle: NativeFdHandle, name: string) {
    this.#handle = handle;
    this.name = name;
  }

  /** Creates the interface `name` (or attaches to an existing one); the kernel picks a name when none is given. */
  static open(name?: string): TapDevice {
    const { handle, name: actual } = nativeCall(() => native().openTap(name));
    return new TapDevice(handle, actual);
  }

  get fd(): number {
    if (this.#handle.closed) throw new ClosedError(`TAP ${this.name} is closed`);
    return this.#handle.fd;
  }

  /** Reads one frame into the views; null when none is waiting. */
  read(into: Uint8Array[]): number | null {
    return nativeCall(() => native().readvFd(this.fd, into));
  }

  /** Writes one frame gathered from the views; null when the interface cannot take it now. */
  write(from: Uint8Array[]): number | null {
    return nativeCall(() => native().writevFd(this.fd, from));
  }

  /** Calls onReadable while frames are waiting (until unwatch()). */
  watch(onReadable: () => void): void {
    this.unwatch();
    this.#watcher = nativeCall(() => native().watchFd(this.fd, () => onReadable()));
  }

  unwatch(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  get watching(): boolean {
    return this.#watcher !== undefined;
  }

  close(): void {
    this.unwatch();
    this.#handle.close();
  }
}
