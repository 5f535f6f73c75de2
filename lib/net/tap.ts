// A TAP interface owned by this process (non-blocking): frames move between it and lists of byte
// views, and `watch` calls back on the event loop when a frame is waiting to be read.
import { ClosedError, nativeCall } from '../kvm/errors';
import { native, NativeFdHandle, NativeFdWatcher } from '../native/binding';

/** A TAP network interface of the host, opened non-blocking, read and written frame by frame. */
export class TapDevice {
  /** The interface's name. */
  readonly name: string;
  readonly #handle: NativeFdHandle;
  #watcher: NativeFdWatcher | undefined;

  private constructor(handle: NativeFdHandle, name: string) {
    this.#handle = handle;
    this.name = name;
  }

  /**
   * Creates the interface `name` (or attaches to an existing one); the kernel picks a name when none is given.
   * @throws {@link KvmIoctlError} when it cannot be opened (no /dev/net/tun, no CAP_NET_ADMIN, a bad name).
   */
  static open(name?: string): TapDevice {
    const { handle, name: actual } = nativeCall(() => native().openTap(name));
    return new TapDevice(handle, actual);
  }

  /** The open file descriptor. */
  get fd(): number {
    if (this.#handle.closed) throw new ClosedError(`TAP ${this.name} is closed`);
    return this.#handle.fd;
  }

  /**
   * Reads one frame into the views; null when none is waiting.
   * @throws {@link KvmIoctlError} when the read fails.
   * @throws {@link ClosedError} when the TAP is closed.
   */
  read(into: Uint8Array[]): number | null {
    return nativeCall(() => native().readvFd(this.fd, into));
  }

  /**
   * Writes one frame gathered from the views; null when the interface cannot take it now.
   * @throws {@link KvmIoctlError} when the write fails.
   * @throws {@link ClosedError} when the TAP is closed.
   */
  write(from: Uint8Array[]): number | null {
    return nativeCall(() => native().writevFd(this.fd, from));
  }

  /**
   * Calls onReadable while frames are waiting (until unwatch()).
   * @throws {@link KvmIoctlError} when the watch cannot be set up.
   */
  watch(onReadable: () => void): void {
    this.unwatch();
    this.#watcher = nativeCall(() => native().watchFd(this.fd, () => onReadable()));
  }

  /**
   * Stops calling the watcher.
   * @throws Nothing.
   */
  unwatch(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  /** Whether a watcher is set. */
  get watching(): boolean {
    return this.#watcher !== undefined;
  }

  /**
   * Closes the interface (a TAP it created goes away); idempotent.
   * @throws Nothing.
   */
  close(): void {
    this.unwatch();
    this.#handle.close();
  }
}
