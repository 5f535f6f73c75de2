/* Real mode: a port write, a port read, an MMIO write and an MMIO read, then HLT.
 * Loaded at 0x1000 with CS base 0. Results the test checks: BL = byte read from port 0x11,
 * CX = word read from MMIO 0xd0002. */
    .code16
    .text
    .globl _start
_start:
    mov $0x42, %al
    out %al, $0x10
    in $0x11, %al
    mov %al, %bl
    mov $0xd000, %ax
    mov %ax, %ds
    movb $0x5a, 0x0
    movw 0x2, %cx
    hlt
