// Errors of the public VM API (lib/api): every one is a VmmError, so callers can catch them all.
import { ConfigError, VmmError } from '../kvm/errors';

/** A createVm() option is invalid; `field` names it. */
export class VmConfigError extends ConfigError {
  /** The option that is wrong, as a path (`disks[1].path`, `networks[0].mac`). */
  readonly field: string;
  /**
   * Makes the error for an option.
   * @throws Nothing.
   */
  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super(`${field}: ${message}`, options);
    this.field = field;
  }
}

/** A kernel or initrd file named by path could not be read. */
export class VmFileError extends VmConfigError {
  /** The file that could not be opened. */
  readonly path: string;
  /** The errno code (ENOENT, EACCES, EISDIR, ...) when there is one. */
  readonly code: string | undefined;
  /**
   * Makes the error for an option's file, from the error opening it.
   * @throws Nothing.
   */
  constructor(field: string, path: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String((cause as Error)?.message ?? cause);
    super(field, `cannot read ${path}: ${why}`, { cause });
    this.path = path;
    this.code = code;
  }
}

/** The operation was cancelled through the AbortSignal given to createVm() (name 'AbortError', like DOM's). */
export class VmAbortError extends VmmError {
  /**
   * Makes the error (its `name` is `AbortError`).
   * @throws Nothing.
   */
  constructor(message = 'the VM was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}
