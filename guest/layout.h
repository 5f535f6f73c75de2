/* Selectors and fixed addresses shared by the assembly and the C kernel. */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define USER_CS (0x18 | 3)
#define USER_DS (0x20 | 3)
#define TSS_SEL 0x28

#define TIMER_VECTOR 32
#define KEYBOARD_VECTOR 33
#define SERIAL_VECTOR 36
#define SPURIOUS_VECTOR 255

#define PAGE_PRESENT_WRITE_USER 0x7
#define PAGE_LARGE 0x80

/* How kmain() was reached: what its first argument points to. */
#define BOOT_ZERO_PAGE 0 /* Linux boot protocol, 64-bit entry: the zero page (boot_params) */
#define BOOT_PVH 1       /* PVH (x86/HVM direct boot ABI): struct hvm_start_info */

#endif
