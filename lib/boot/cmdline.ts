// The kernel command line: validated and encoded as the NUL-terminated bytes the kernel reads.
import { BootError } from './errors';

/** UTF-8 bytes of `cmdline` plus a NUL; `maxLength` is the kernel's limit without the NUL. */
export function encodeCmdline(cmdline: string, maxLength: number): Uint8Array {
  const nul = cmdline.indexOf('\0');
  if (nul >= 0) throw new BootError('BAD_CMDLINE', `kernel command line contains a NUL byte at character ${nul}`);
  const bytes = Buffer.from(`${cmdline}\0`, 'utf8');
  const length = bytes.length - 1;
  if (length > maxLength) {
    throw new BootError('CMDLINE_TOO_LONG', `kernel command line is ${length} bytes, longer than the kernel's limit of ${maxLength}`);
  }
  return bytes;
}
