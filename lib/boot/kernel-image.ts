// A parsed Linux kernel image (bzImage or vmlinux ELF) and the memory it needs before it can read the
// E820 map (so the loader can keep the initrd out of its way).
import { alignUp } from './align';
import { parseBzImage } from './bzimage';
import { isElf, parseElfKernel } from './elf';

export interface KernelImageInfo {
  /** Boot protocol version (0x020c = 2.12); ELF kernels get the minimal header's 2.12. */
  readonly protocol: number;
  /** Guest-physical address of the first loaded byte. */
  readonly loadAddress: number;
  /** Bytes loaded from loadAddress on (memory image size, including zero fill). */
  readonly imageSize: number;
  /** Guest-physical address of the 64-bit entry point. */
  readonly entryAddress: number;
  /** Contiguous memory the kernel needs from its runtime start before it reads its memory map. */
  readonly initSize: number;
  /** Highest address (inclusive) the initrd may occupy. */
  readonly initrdAddrMax: number;
  /** Longest command line in bytes, without the terminating NUL. */
  readonly cmdlineMax: number;
  readonly kernelAlignment: number;
  readonly relocatable: boolean;
  readonly prefAddress: number;
}

export interface BzImage extends KernelImageInfo {
  readonly format: 'bzimage';
  /** The setup header bytes, from offset 0x1f1 to the header's end; copied into boot_params. */
  readonly setupHeader: Uint8Array;
  /** The protected-mode kernel, loaded at loadAddress. */
  readonly protectedMode: Uint8Array;
  /** The compressed vmlinux inside protectedMode (payload_offset, payload_length). */
  readonly payload: { readonly offset: number; readonly length: number };
}

export interface ElfSegment {
  readonly physicalAddress: number;
  /** The segment's file bytes; the rest of memorySize is zero filled. */
  readonly data: Uint8Array;
  readonly memorySize: number;
}

export interface ElfKernel extends KernelImageInfo {
  readonly format: 'elf';
  readonly segments: readonly ElfSegment[];
}

/** A parsed kernel: a bzImage or an ELF vmlinux. */
export type KernelImage = BzImage | ElfKernel;

/**
 * Parses a vmlinux (ELF) or bzImage file; throws BootError when it cannot be booted.
 * @throws {@link BootError} when the image is neither a bootable ELF vmlinux nor a bzImage of boot protocol >=
 *   2.12 with a 64-bit entry.
 */
export function parseKernel(file: Uint8Array): KernelImage {
  return isElf(file) ? parseElfKernel(file) : parseBzImage(file);
}

/**
 * Guest-physical range the kernel occupies until it can read the E820 map: the loaded image plus init_size
 * from its runtime start. Per boot.rst, a relocatable kernel runs at align_up(max(load, pref_address),
 * kernel_alignment), any other at pref_address.
 */
export function kernelExtent(image: KernelImage): { start: number; end: number } {
  const runtimeStart = image.relocatable
    ? alignUp(Math.max(image.loadAddress, image.prefAddress), image.kernelAlignment)
    : image.prefAddress;
  return {
    start: Math.min(image.loadAddress, runtimeStart),
    end: Math.max(image.loadAddress + image.imageSize, runtimeStart + image.initSize),
  };
}
