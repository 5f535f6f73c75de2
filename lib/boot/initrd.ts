// Initrd placement: as high as the kernel allows inside low RAM, page aligned, clear of the kernel.
import { PAGE_SIZE } from '../memory/layout';
import { alignDown, alignUp } from './align';
import { BootError, hex } from './errors';

export interface InitrdLimits {
  /** End (exclusive) of the RAM region at address 0. */
  readonly lowRamEnd: number;
  /** The kernel's initrd_addr_max: the highest address (inclusive) the initrd may occupy. */
  readonly addressMax: number;
  /** End (exclusive) of the memory the kernel needs before it reads the memory map. */
  readonly kernelEnd: number;
}

/** The guest-physical address for an initrd of `size` bytes; throws INITRD_TOO_LARGE if none fits. */
export function placeInitrd(size: number, limits: InitrdLimits): number {
  const top = Math.min(limits.lowRamEnd, limits.addressMax + 1);
  const bottom = alignUp(limits.kernelEnd, PAGE_SIZE);
  const address = alignDown(top - size, PAGE_SIZE);
  if (size > top || address < bottom) {
    throw new BootError(
      'INITRD_TOO_LARGE',
      `initrd of ${size} bytes does not fit between the kernel's end (${hex(bottom)}) and ${hex(top)} ` +
        `(the lower of the end of low RAM and the kernel's initrd_addr_max + 1)`,
    );
  }
  return address;
}
