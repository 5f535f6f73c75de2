// How a Linux boot is adjusted where KVM emulates guest ring 0 (nested PVM, see kvm/host-kind.ts):
// - CPUID hides CX16: the emulator cannot run `lock cmpxchg16b`, which SLUB uses when it is offered.
// - `noxsave` goes on the command line: the emulator cannot run `xrstor`, and PVM reports the host's
//   XSAVE bit in CPUID whatever the VMM sets, so only the kernel's own switch keeps it on FXSAVE.
// - A gzip or LZ4 bzImage is decompressed on the host: its own decompressor would run for minutes.
// On VT-x/AMD-V none of this applies and the kernel boots exactly as given.
import type { HideableFeature } from '../arch/x86_64/cpuid';
import { decompressBzImage, HOST_DECOMPRESSIBLE, payloadCompression, bzImagePayload } from './bzimage-payload';
import { parseElfKernel } from './elf';
import type { KernelImage } from './kernel-image';

export const EMULATION_HIDDEN_FEATURES: readonly HideableFeature[] = ['CX16'];
export const EMULATION_KERNEL_PARAMETERS: readonly string[] = ['noxsave'];

export function withEmulationParameters(cmdline: string): string {
  const words = new Set(cmdline.split(/\s+/));
  const missing = EMULATION_KERNEL_PARAMETERS.filter((parameter) => !words.has(parameter));
  return [cmdline, ...missing].filter((part) => part.length > 0).join(' ');
}

/** The image to boot: the bzImage's own vmlinux where the host can decompress it, else the image as given. */
export function hostDecompressed(image: KernelImage): KernelImage {
  if (image.format !== 'bzimage' || image.payload.length === 0) return image;
  if (!HOST_DECOMPRESSIBLE.includes(payloadCompression(bzImagePayload(image)))) return image;
  return parseElfKernel(decompressBzImage(image));
}
