// Errors of the Linux boot loader: a kernel image, command line or initrd this VMM cannot boot.
import { VmmError } from '../kvm/errors';

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

export class BootError extends VmmError {
  readonly code: BootErrorCode;
  constructor(code: BootErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Formats an address or size for error messages. */
export function hex(value: number | bigint): string {
  return `0x${value.toString(16)}`;
}
