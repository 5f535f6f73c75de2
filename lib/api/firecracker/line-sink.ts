// A file that log or metrics lines go to: a regular file (created if missing) or a FIFO as the jailer
// sets one up. It is opened read-write and non-blocking, so opening a FIFO never waits for a reader and
// a full FIFO drops the line (counted) instead of stalling the VMM.
import * as fs from 'node:fs';
import { VmFileError } from '../errors';

export class LineSink {
  readonly path: string;
  /** Lines dropped because the file (a FIFO whose reader is slow) would have blocked. */
  missed = 0;
  #fd: number | undefined;

  /** @throws {@link VmFileError} when the file cannot be opened. */
  constructor(path: string, field: string) {
    this.path = path;
    try {
      this.#fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NONBLOCK, 0o644);
    } catch (error) {
      throw new VmFileError(field, path, error);
    }
  }

  /** Writes one line (a newline is added); false when it was dropped. */
  write(line: string): boolean {
    if (this.#fd === undefined) return false;
    try {
      fs.writeSync(this.#fd, `${line}\n`);
      return true;
    } catch {
      this.missed += 1;
      return false;
    }
  }

  close(): void {
    if (this.#fd === undefined) return;
    fs.closeSync(this.#fd);
    this.#fd = undefined;
  }
}
