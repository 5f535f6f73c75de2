/* 64-bit long mode (paging on, identity map): 4-byte port write, port read, 4-byte MMIO write,
 * 8-byte MMIO read, then HLT. Loaded at 0x100000. RDI = MMIO base (set by the test).
 * Results: BL = byte read from port 0x11, RCX = qword read from MMIO base + 8. */
    .code64
    .text
    .globl _start
_start:
    mov $0x1234abcd, %eax
    out %eax, $0x10
    in $0x11, %al
    mov %al, %bl
    movl $0xdeadbeef, (%rdi)
    movq 8(%rdi), %rcx
    hlt
