// Where the bundled tiny guest kernel is: built from guest/ by `npm run build:guest` into dist/guest/.
import * as path from 'node:path';

export const BUNDLED_GUEST_FILE = 'node-vmm-guest.bzImage';

/** Absolute path of the bundled guest's bzImage (dist/guest/ next to dist/lib/). */
export function bundledGuestPath(): string {
  return path.join(__dirname, '..', '..', 'guest', BUNDLED_GUEST_FILE);
}
