// The bundled tiny guest kernel (guest/, see guest/README.md): built by `npm run build:guest` into
// dist/guest/ and shipped in the package. node-vmm boots its bzImage through the same path as Linux;
// the same kernel as a PVH ELF boots under QEMU's microvm machine (-kernel), for side-by-side benches.
import * as path from 'node:path';

export const BUNDLED_GUEST_FILE = 'node-vmm-guest.bzImage';
export const BUNDLED_GUEST_ELF_FILE = 'node-vmm-guest.elf';

/** The first line the guest prints, as early as it can: boot-time benchmarks wait for it. */
export const BUNDLED_GUEST_READY_MARKER = 'node-vmm-guest: ready';

/** The shell's prompt (interactive mode, the default). */
export const BUNDLED_GUEST_PROMPT = 'node-vmm> ';

/** Kernel command line that selects the TAP self-test (it ends the VM with the failure count). */
export const BUNDLED_GUEST_SELFTEST_CMDLINE = 'nodevmm.mode=selftest';

/**
 * Where `nodevmm.mode=bench nodevmm.bench=marker` writes its running count (32 bits) every ~100 µs: a
 * guest-physical address in the 32-bit MMIO gap, for a host device to serve (guest/syscall.h names it too).
 */
export const BUNDLED_GUEST_BENCH_MARKER_ADDRESS = 0xd0200000;

/**
 * Absolute path of the bundled guest's bzImage (dist/guest/ next to dist/lib/).
 * @throws Nothing.
 */
export function bundledGuestPath(): string {
  return path.join(__dirname, '..', '..', 'guest', BUNDLED_GUEST_FILE);
}

/**
 * Absolute path of the bundled guest as a PVH ELF (what QEMU's -kernel boots).
 * @throws Nothing.
 */
export function bundledGuestElfPath(): string {
  return path.join(__dirname, '..', '..', 'guest', BUNDLED_GUEST_ELF_FILE);
}
