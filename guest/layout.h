/* Selectors and fixed addresses shared by the assembly and the C kernel. */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define USER_CS (0x18 | 3)
#define USER_DS (0x20 | 3)
#define TSS_SEL 0x28

#define TIMER_VECTOR 32
#define SERIAL_VECTOR 36
#define SPURIOUS_VECTOR 255

#endif
