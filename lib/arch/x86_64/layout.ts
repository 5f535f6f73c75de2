// Fixed guest-physical addresses of the boot structures (Firecracker's x86-64 layout).
export const BOOT_GDT_ADDRESS = 0x500;
export const BOOT_IDT_ADDRESS = 0x520;
export const ZERO_PAGE_ADDRESS = 0x7000;
export const BOOT_STACK_POINTER = 0x8ff0;
export const PML4_ADDRESS = 0x9000;
export const PDPT_ADDRESS = 0xa000;
export const PD_ADDRESS = 0xb000;
export const CMDLINE_ADDRESS = 0x20000;
/** End of usable base memory: the last KiB below 640 KiB (the EBDA's place) holds the MP table and is reserved. */
export const BASE_MEMORY_END = 0x9fc00;
/** End of the legacy BIOS area (VGA, option ROMs, BIOS), where high memory starts. */
export const HIGH_MEMORY_START = 0x100000;
export const KERNEL_LOAD_ADDRESS = 0x100000;
/** KVM_SET_TSS_ADDR: three pages just below the 4 GiB boundary's last MiB (inside the MMIO gap). */
export const KVM_TSS_ADDRESS = 0xfffbd000;
/** KVM_SET_IDENTITY_MAP_ADDR: the page just below the TSS pages. */
export const KVM_IDENTITY_MAP_ADDRESS = 0xfffbc000;
/** virtio-mmio windows: 4 KiB each from here, inside the 32-bit MMIO gap (Firecracker's choice too). */
export const VIRTIO_MMIO_BASE = 0xd0000000;
/** Legacy-PIC-reachable IRQs free of the legacy devices (COM1 uses 4), in allocation order. */
export const VIRTIO_IRQS: readonly number[] = [5, 6, 7, 9, 10, 11, 12, 14, 15];
