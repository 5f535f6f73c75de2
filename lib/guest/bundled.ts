// The bundled tiny guest kernel (guest/, see guest/README.md): built by `npm run build:guest` into
// dist/guest/ and shipped in the package. It boots through the same bzImage path as Linux.
import * as path from 'node:path';

export const BUNDLED_GUEST_FILE = 'node-vmm-guest.bzImage';

/** The first line the guest prints, as early as it can: boot-time benchmarks wait for it. */
export const BUNDLED_GUEST_READY_MARKER = 'node-vmm-guest: ready';

/** The shell's prompt (interactive mode, the default). */
export const BUNDLED_GUEST_PROMPT = 'node-vmm> ';

/** Kernel command line that selects the TAP self-test (it ends the VM with the failure count). */
export const BUNDLED_GUEST_SELFTEST_CMDLINE = 'nodevmm.mode=selftest';

/** Absolute path of the bundled guest's bzImage (dist/guest/ next to dist/lib/). */
export function bundledGuestPath(): string {
  return path.join(__dirname, '..', '..', 'guest', BUNDLED_GUEST_FILE);
}
