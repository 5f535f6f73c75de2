/* 64-bit long mode: writes the NUL-terminated message below to port 0x3f8 one byte at a time, then
 * HLT. The demo embeds these bytes (lib/cli/hello-guest.ts); a unit test checks they match. */
    .code64
    .text
    .globl _start
_start:
    lea msg(%rip), %rsi
    mov $0x3f8, %dx
1:  lodsb
    test %al, %al
    jz 2f
    out %al, %dx
    jmp 1b
2:  hlt
msg:
    .asciz "Hello from a KVM guest, answered by a TypeScript device.\n"
