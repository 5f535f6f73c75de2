// Errors of the Linux boot loader: a kernel image, command line or initrd this VMM cannot boot.
import { VmmError } from '../kvm/errors';

/**
 * The codes of {@link BootError}: truncated file, bad magic, old boot protocol, no 64-bit entry, bad ELF, no fit,
 * command line too long, payload that does not decompress.
 */
export type BootErrorCode =
  | 'TRUNCATED'
  | 'BAD_MAGIC'
  | 'OLD_PROTOCOL'
  | 'NOT_64BIT'
  | 'BAD_SETUP'
  | 'BAD_ELF'
  | 'TOO_LARGE'
  | 'CMDLINE_TOO_LONG'
  | 'BAD_CMDLINE'
  | 'INITRD_TOO_LARGE'
  | 'NO_MEMORY'
  | 'BAD_PAYLOAD'
  | 'UNSUPPORTED_COMPRESSION';

/** A kernel image, initrd or command line this VMM cannot boot; `code` says what is wrong. */
export class BootError extends VmmError {
  /** What is wrong, as a stable code. */
  readonly code: BootErrorCode;
  /**
   * Makes the error with its code.
   * @throws Nothing.
   */
  constructor(code: BootErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Formats an address or size for error messages. */
export function hex(value: number | bigint): string {
  return `0x${value.toString(16)}`;
}
