// bzImage parsing: validates the setup header of a Linux x86 bzImage and splits off the protected-mode
// kernel, which the 64-bit boot protocol loads at 1 MiB and enters 0x200 bytes in.
import { KERNEL_LOAD_ADDRESS } from '../arch/x86_64/layout';
import {
  BOOT_FLAG_MAGIC,
  DEFAULT_SETUP_SECTS,
  ENTRY_64_OFFSET,
  formatProtocol,
  HEADER_MAGIC,
  MIN_PROTOCOL,
  SECTOR_SIZE,
  SetupHeader,
  XLF_KERNEL_64,
} from './boot-params';
import { BootError, hex } from './errors';
import type { BzImage } from './kernel-image';

/** The header must reach past init_size, the last field this loader reads. */
const MIN_HEADER_END = SetupHeader.initSize + 4;
/** syssize counts the protected-mode kernel in 16-byte paragraphs. */
const SYSSIZE_UNIT = 16;

function fileView(file: Uint8Array): DataView {
  return new DataView(file.buffer, file.byteOffset, file.byteLength);
}

function isPowerOfTwo(value: number): boolean {
  return value > 0 && (value & (value - 1)) === 0;
}

export function parseBzImage(file: Uint8Array): BzImage {
  const view = fileView(file);
  if (file.length < SetupHeader.version + 2) {
    throw new BootError('TRUNCATED', `kernel image is ${file.length} bytes, too short to hold a boot protocol setup header`);
  }
  if (view.getUint32(SetupHeader.headerMagic, true) !== HEADER_MAGIC) {
    throw new BootError('BAD_MAGIC', `kernel image has no "HdrS" magic at ${hex(SetupHeader.headerMagic)}: neither a bzImage nor an ELF vmlinux`);
  }
  const bootFlag = view.getUint16(SetupHeader.bootFlag, true);
  if (bootFlag !== BOOT_FLAG_MAGIC) {
    throw new BootError('BAD_MAGIC', `bzImage boot flag at ${hex(SetupHeader.bootFlag)} is ${hex(bootFlag)}, expected ${hex(BOOT_FLAG_MAGIC)}`);
  }
  const protocol = view.getUint16(SetupHeader.version, true);
  if (protocol < MIN_PROTOCOL) {
    throw new BootError(
      'OLD_PROTOCOL',
      `boot protocol ${formatProtocol(protocol)} is older than ${formatProtocol(MIN_PROTOCOL)}, the first with a 64-bit entry`,
    );
  }
  const headerEnd = SetupHeader.headerMagic + view.getUint8(SetupHeader.jumpDisplacement);
  if (headerEnd < MIN_HEADER_END) {
    throw new BootError('BAD_SETUP', `setup header ends at ${hex(headerEnd)}, before init_size at ${hex(SetupHeader.initSize)}`);
  }
  if (file.length < headerEnd) {
    throw new BootError('TRUNCATED', `kernel image is ${file.length} bytes but its setup header ends at ${hex(headerEnd)}`);
  }
  const xloadflags = view.getUint16(SetupHeader.xloadflags, true);
  if ((xloadflags & XLF_KERNEL_64) === 0) {
    throw new BootError('NOT_64BIT', `kernel does not set XLF_KERNEL_64 in xloadflags (${hex(xloadflags)}): it has no 64-bit entry point`);
  }

  const setupSects = view.getUint8(SetupHeader.setupSects) || DEFAULT_SETUP_SECTS;
  const setupSize = (setupSects + 1) * SECTOR_SIZE;
  if (setupSize >= file.length) {
    throw new BootError(
      'BAD_SETUP',
      `setup_sects ${setupSects} puts the protected-mode kernel at ${hex(setupSize)}, at or past the end of the ${file.length}-byte file`,
    );
  }
  const declaredSize = view.getUint32(SetupHeader.syssize, true) * SYSSIZE_UNIT;
  const protectedMode = file.subarray(setupSize);
  if (protectedMode.length < declaredSize) {
    throw new BootError('TRUNCATED', `bzImage declares a ${declaredSize}-byte protected-mode kernel (syssize) but only ${protectedMode.length} bytes follow the setup code`);
  }

  const kernelAlignment = view.getUint32(SetupHeader.kernelAlignment, true);
  const relocatable = view.getUint8(SetupHeader.relocatableKernel) !== 0;
  if (relocatable && !isPowerOfTwo(kernelAlignment)) {
    throw new BootError('BAD_SETUP', `kernel_alignment ${hex(kernelAlignment)} of a relocatable kernel is not a power of two`);
  }
  const prefAddress = view.getBigUint64(SetupHeader.prefAddress, true);
  if (prefAddress > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new BootError('BAD_SETUP', `pref_address ${hex(prefAddress)} is not a usable physical address`);
  }

  const payload = { offset: view.getUint32(SetupHeader.payloadOffset, true), length: view.getUint32(SetupHeader.payloadLength, true) };
  if (payload.offset + payload.length > protectedMode.length) {
    throw new BootError('BAD_SETUP', `payload of ${payload.length} bytes at ${hex(payload.offset)} runs past the ${protectedMode.length}-byte protected-mode kernel`);
  }

  return {
    format: 'bzimage',
    protocol,
    setupHeader: file.subarray(SetupHeader.start, headerEnd),
    protectedMode,
    payload,
    loadAddress: KERNEL_LOAD_ADDRESS,
    imageSize: protectedMode.length,
    entryAddress: KERNEL_LOAD_ADDRESS + ENTRY_64_OFFSET,
    initSize: view.getUint32(SetupHeader.initSize, true),
    initrdAddrMax: view.getUint32(SetupHeader.initrdAddrMax, true),
    cmdlineMax: view.getUint32(SetupHeader.cmdlineSize, true),
    kernelAlignment,
    relocatable,
    prefAddress: Number(prefAddress),
  };
}
