// The compressed vmlinux inside a bzImage, decompressed on the host. A bzImage normally unpacks
// itself in the guest, but where guest ring 0 is emulated (nested PVM, ~0.65 µs per instruction) that
// decompressor alone runs for minutes; the host does the same work in well under a second. The result
// is the kernel's own ELF vmlinux (with the relocation table the build appends after it), booted at
// its link-time physical address like Firecracker boots a vmlinux.
import { gunzipSync } from 'node:zlib';
import { decompressLz4Legacy } from './decompress/lz4-legacy';
import { BootError } from './errors';
import type { BzImage } from './kernel-image';

export type PayloadCompression = 'gzip' | 'lz4' | 'xz' | 'zstd' | 'bzip2' | 'lzma' | 'lzo' | 'unknown';

/** Magic numbers the kernel's compressors start their output with (lib/decompress.c). */
const MAGICS: readonly { compression: Exclude<PayloadCompression, 'unknown'>; bytes: readonly number[] }[] = [
  { compression: 'gzip', bytes: [0x1f, 0x8b] },
  { compression: 'lz4', bytes: [0x02, 0x21, 0x4c, 0x18] },
  { compression: 'xz', bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  { compression: 'zstd', bytes: [0x28, 0xb5, 0x2f, 0xfd] },
  { compression: 'bzip2', bytes: [0x42, 0x5a, 0x68] },
  { compression: 'lzma', bytes: [0x5d, 0x00, 0x00] },
  { compression: 'lzo', bytes: [0x89, 0x4c, 0x5a, 0x4f] },
];
export const HOST_DECOMPRESSIBLE: readonly PayloadCompression[] = ['gzip', 'lz4'];
/** Larger than any x86-64 vmlinux plus relocations; a bigger declared size means a corrupt trailer. */
const MAX_VMLINUX_SIZE = 512 * 1024 * 1024;
const SIZE_TRAILER = 4;
/** More than any compressor expands (LZ4's worst is 255:1, deflate's 1032:1): a larger declared size is a lie. */
const MAX_EXPANSION = 1100;

const asPlainBytes = (buffer: Buffer): Uint8Array => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);

export function payloadCompression(payload: Uint8Array): PayloadCompression {
  return MAGICS.find(({ bytes }) => bytes.every((byte, i) => payload[i] === byte))?.compression ?? 'unknown';
}

export function bzImagePayload(image: BzImage): Uint8Array {
  const { offset, length } = image.payload;
  if (length === 0) throw new BootError('BAD_PAYLOAD', 'bzImage has no compressed payload (payload_length is 0)');
  return image.protectedMode.subarray(offset, offset + length);
}

/**
 * The vmlinux ELF inside a bzImage (gzip or LZ4 payloads). Every compressor Linux uses leaves the
 * decompressed size in the payload's last 4 bytes (gzip's ISIZE, the build's size_append for others).
 */
export function decompressBzImage(image: BzImage): Uint8Array {
  const payload = bzImagePayload(image);
  const compression = payloadCompression(payload);
  if (!HOST_DECOMPRESSIBLE.includes(compression)) {
    throw new BootError(
      'UNSUPPORTED_COMPRESSION',
      `bzImage payload is ${compression === 'unknown' ? 'in an unknown format' : `${compression}-compressed`}; node-vmm decompresses ${HOST_DECOMPRESSIBLE.join(' and ')} on the host. Boot the bzImage as it is, or pass an uncompressed vmlinux`,
    );
  }
  if (payload.length <= SIZE_TRAILER) throw new BootError('BAD_PAYLOAD', `bzImage payload of ${payload.length} bytes is too short`);
  const trailer = new DataView(payload.buffer, payload.byteOffset + payload.length - SIZE_TRAILER, SIZE_TRAILER);
  const size = trailer.getUint32(0, true);
  if (size === 0 || size > MAX_VMLINUX_SIZE || size > payload.length * MAX_EXPANSION) {
    throw new BootError('BAD_PAYLOAD', `bzImage payload of ${payload.length} bytes declares a decompressed size of ${size} bytes`);
  }
  let vmlinux: Uint8Array;
  try {
    vmlinux = compression === 'gzip' ? asPlainBytes(gunzipSync(payload, { maxOutputLength: MAX_VMLINUX_SIZE })) : decompressLz4Legacy(payload, size);
  } catch (error) {
    throw new BootError('BAD_PAYLOAD', `bzImage ${compression} payload does not decompress: ${(error as Error).message}`, { cause: error });
  }
  if (vmlinux.length !== size) {
    throw new BootError('BAD_PAYLOAD', `bzImage payload decompressed to ${vmlinux.length} bytes, not the ${size} its trailer declares`);
  }
  return vmlinux;
}
