// Offsets and values of struct boot_params (the "zero page") and the setup_header inside it, from the
// Linux x86 boot protocol (Documentation/arch/x86/boot.rst). The setup header sits at the same offsets in
// a bzImage file as in boot_params, so these offsets serve both.

export const BOOT_PARAMS_SIZE = 4096;

/** setup_header fields (offsets from the start of the bzImage file / of boot_params). */
export const SetupHeader = {
  start: 0x1f1,
  setupSects: 0x1f1,
  syssize: 0x1f4,
  bootFlag: 0x1fe,
  /** The jump instruction's displacement byte: the header ends at headerMagic + this byte. */
  jumpDisplacement: 0x201,
  headerMagic: 0x202,
  version: 0x206,
  typeOfLoader: 0x210,
  loadflags: 0x211,
  ramdiskImage: 0x218,
  ramdiskSize: 0x21c,
  heapEndPtr: 0x224,
  cmdLinePtr: 0x228,
  initrdAddrMax: 0x22c,
  kernelAlignment: 0x230,
  relocatableKernel: 0x234,
  xloadflags: 0x236,
  cmdlineSize: 0x238,
  /** Offset of the compressed kernel from the start of the protected-mode kernel (protocol 2.08+). */
  payloadOffset: 0x248,
  payloadLength: 0x24c,
  prefAddress: 0x258,
  initSize: 0x260,
} as const;

/** boot_params fields outside the setup header. */
export const BootParams = {
  acpiRsdpAddr: 0x070,
  extRamdiskImage: 0x0c0,
  extRamdiskSize: 0x0c4,
  extCmdLinePtr: 0x0c8,
  e820Entries: 0x1e8,
  e820Table: 0x2d0,
} as const;

export const E820_TABLE_MAX_ENTRIES = 128;
/** struct boot_e820_entry: u64 addr, u64 size, u32 type (packed). */
export const E820_ENTRY_SIZE = 20;

export const BOOT_FLAG_MAGIC = 0xaa55;
/** "HdrS" read as a little-endian u32. */
export const HEADER_MAGIC = 0x53726448;
export const SECTOR_SIZE = 512;
/** setup_sects 0 means 4, for compatibility with ancient kernels. */
export const DEFAULT_SETUP_SECTS = 4;
/** 2.12 is the first protocol with xloadflags, where a kernel advertises its 64-bit entry. */
export const MIN_PROTOCOL = 0x020c;
export const XLF_KERNEL_64 = 0x1;
/** type_of_loader for a boot loader without an assigned id. */
export const LOADER_TYPE_UNDEFINED = 0xff;
export const LOADFLAG_CAN_USE_HEAP = 0x80;
/**
 * heap_end_ptr for a full 64 KiB real-mode segment (0x10000 minus the 0x200 the protocol subtracts). Only
 * the 16-bit setup code uses its heap, and the 64-bit entry skips that code: the value just keeps the
 * header consistent with CAN_USE_HEAP.
 */
export const HEAP_END = 0xfe00;
/** The 64-bit entry point lies this far past the start of the protected-mode kernel. */
export const ENTRY_64_OFFSET = 0x200;
/** Linux x86's COMMAND_LINE_SIZE counts the terminating NUL, so the longest line is one byte shorter. */
export const COMMAND_LINE_SIZE = 2048;
/** initrd_addr_max every x86-64 kernel has advertised: the initrd must end below 2 GiB. */
export const DEFAULT_INITRD_ADDR_MAX = 0x7fffffff;

/** Formats a protocol version the way boot.rst writes it (0x020c -> "2.12"). */
export function formatProtocol(version: number): string {
  return `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
}
