// Direct boot of Linux (64-bit boot protocol): validates the kernel, command line and initrd against guest
// RAM, then writes the kernel, command line, initrd and zero page. Nothing is written unless all of it fits.
import { BASE_MEMORY_END, CMDLINE_ADDRESS, KERNEL_LOAD_ADDRESS, ZERO_PAGE_ADDRESS } from '../arch/x86_64/layout';
import type { GuestMemory } from '../memory/guest-memory';
import { encodeCmdline } from './cmdline';
import { buildE820, E820Entry } from './e820';
import { BootError, hex } from './errors';
import { placeInitrd } from './initrd';
import { KernelImage, kernelExtent } from './kernel-image';
import { buildZeroPage } from './zero-page';

export interface LoadLinuxOptions {
  cmdline: string;
  /** An empty initrd is the same as none. */
  initrd?: Uint8Array;
  /** The ACPI RSDP's address, when the caller writes ACPI tables. */
  acpiRsdpAddress?: number;
}

export interface LoadedLinux {
  /** Where the vCPU starts (RIP), in 64-bit mode with RSI = zeroPage. */
  entry: bigint;
  zeroPage: number;
  e820: E820Entry[];
  initrd?: { address: number; size: number };
}

function checkKernelFits(image: KernelImage, lowRamEnd: number): void {
  const extent = kernelExtent(image);
  if (extent.start < KERNEL_LOAD_ADDRESS) {
    throw new BootError(image.format === 'elf' ? 'BAD_ELF' : 'BAD_SETUP', `kernel loads at ${hex(extent.start)}, below 1 MiB where the boot structures live`);
  }
  if (extent.end > lowRamEnd) {
    throw new BootError(
      'TOO_LARGE',
      `kernel needs guest memory up to ${hex(extent.end)} (image and init_size) but RAM below the 32-bit MMIO gap ends at ${hex(lowRamEnd)}`,
    );
  }
}

function writeKernel(memory: GuestMemory, image: KernelImage): void {
  if (image.format === 'bzimage') {
    memory.writeBytes(image.loadAddress, image.protectedMode);
    return;
  }
  for (const segment of image.segments) {
    memory.writeBytes(segment.physicalAddress, segment.data);
    memory.slice(segment.physicalAddress + segment.data.length, segment.memorySize - segment.data.length).fill(0);
  }
}

export function loadLinux(memory: GuestMemory, image: KernelImage, options: LoadLinuxOptions): LoadedLinux {
  const e820 = buildE820(memory.regions);
  const lowRamEnd = memory.regions.find((r) => r.guestAddress === 0)?.size ?? 0;

  const cmdline = encodeCmdline(options.cmdline, image.cmdlineMax);
  if (CMDLINE_ADDRESS + cmdline.length > BASE_MEMORY_END) {
    throw new BootError('CMDLINE_TOO_LONG', `kernel command line of ${cmdline.length} bytes does not fit between ${hex(CMDLINE_ADDRESS)} and ${hex(BASE_MEMORY_END)}`);
  }
  checkKernelFits(image, lowRamEnd);

  const initrdData = options.initrd ?? new Uint8Array(0);
  const initrd =
    initrdData.length === 0
      ? undefined
      : {
          address: placeInitrd(initrdData.length, { lowRamEnd, addressMax: image.initrdAddrMax, kernelEnd: kernelExtent(image).end }),
          size: initrdData.length,
        };
  const zeroPage = buildZeroPage(image, {
    cmdlineAddress: CMDLINE_ADDRESS,
    initrd,
    e820,
    ...(options.acpiRsdpAddress !== undefined ? { acpiRsdpAddress: options.acpiRsdpAddress } : {}),
  });

  writeKernel(memory, image);
  memory.writeBytes(CMDLINE_ADDRESS, cmdline);
  if (initrd !== undefined) memory.writeBytes(initrd.address, initrdData);
  memory.writeBytes(ZERO_PAGE_ADDRESS, zeroPage);

  return { entry: BigInt(image.entryAddress), zeroPage: ZERO_PAGE_ADDRESS, e820, ...(initrd === undefined ? {} : { initrd }) };
}
