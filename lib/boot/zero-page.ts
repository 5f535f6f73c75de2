// The zero page (struct boot_params): the setup header plus what the loader tells the kernel: where the
// command line and initrd are, and the E820 memory map.
import { ConfigError } from '../kvm/errors';
import {
  BOOT_FLAG_MAGIC,
  BOOT_PARAMS_SIZE,
  BootParams,
  E820_ENTRY_SIZE,
  E820_TABLE_MAX_ENTRIES,
  HEADER_MAGIC,
  HEAP_END,
  LOADER_TYPE_UNDEFINED,
  LOADFLAG_CAN_USE_HEAP,
  MIN_PROTOCOL,
  SetupHeader,
} from './boot-params';
import type { E820Entry } from './e820';
import type { KernelImage } from './kernel-image';

export interface ZeroPageContents {
  readonly cmdlineAddress: number;
  readonly initrd?: { readonly address: number; readonly size: number };
  readonly e820: readonly E820Entry[];
  /** Where the ACPI RSDP is (boot_params.acpi_rsdp_addr), if the machine has ACPI tables. */
  readonly acpiRsdpAddress?: number;
}

const LOW_32_BITS = 2 ** 32;

/** Writes a 64-bit value split into a u32 in the setup header and its high half in a boot_params field. */
function setSplit(view: DataView, lowOffset: number, highOffset: number, value: number): void {
  view.setUint32(lowOffset, value % LOW_32_BITS, true);
  view.setUint32(highOffset, Math.floor(value / LOW_32_BITS), true);
}

/** The header of a kernel without one (vmlinux): just enough for the kernel to trust boot_params.hdr. */
function writeMinimalHeader(view: DataView): void {
  view.setUint16(SetupHeader.bootFlag, BOOT_FLAG_MAGIC, true);
  view.setUint32(SetupHeader.headerMagic, HEADER_MAGIC, true);
  view.setUint16(SetupHeader.version, MIN_PROTOCOL, true);
}

export function buildZeroPage(image: KernelImage, contents: ZeroPageContents): Uint8Array {
  if (contents.e820.length > E820_TABLE_MAX_ENTRIES) {
    throw new ConfigError(`guest memory map has ${contents.e820.length} E820 entries; boot_params holds at most ${E820_TABLE_MAX_ENTRIES}`);
  }
  const page = new Uint8Array(BOOT_PARAMS_SIZE);
  const view = new DataView(page.buffer);
  if (image.format === 'bzimage') page.set(image.setupHeader, SetupHeader.start);
  else writeMinimalHeader(view);

  view.setUint8(SetupHeader.typeOfLoader, LOADER_TYPE_UNDEFINED);
  view.setUint8(SetupHeader.loadflags, view.getUint8(SetupHeader.loadflags) | LOADFLAG_CAN_USE_HEAP);
  view.setUint16(SetupHeader.heapEndPtr, HEAP_END, true);
  setSplit(view, SetupHeader.cmdLinePtr, BootParams.extCmdLinePtr, contents.cmdlineAddress);
  const initrd = contents.initrd ?? { address: 0, size: 0 };
  setSplit(view, SetupHeader.ramdiskImage, BootParams.extRamdiskImage, initrd.address);
  setSplit(view, SetupHeader.ramdiskSize, BootParams.extRamdiskSize, initrd.size);

  if (contents.acpiRsdpAddress !== undefined) view.setBigUint64(BootParams.acpiRsdpAddr, BigInt(contents.acpiRsdpAddress), true);
  view.setUint8(BootParams.e820Entries, contents.e820.length);
  contents.e820.forEach((entry, i) => {
    const offset = BootParams.e820Table + i * E820_ENTRY_SIZE;
    view.setBigUint64(offset, BigInt(entry.address), true);
    view.setBigUint64(offset + 8, BigInt(entry.size), true);
    view.setUint32(offset + 16, entry.type, true);
  });
  return page;
}
