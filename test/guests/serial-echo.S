/* Real mode: prints '>' on the COM1 UART, then echoes every received byte until it receives 'q',
 * and ends the VM through the debug-exit port with status 5. Polls LSR (no interrupts). */
    .code16
    .text
    .globl _start
_start:
    mov $0x3f8, %dx
    mov $'>', %al
    out %al, %dx
1:  mov $0x3fd, %dx
    in %dx, %al
    test $1, %al
    jz 1b
    mov $0x3f8, %dx
    in %dx, %al
    cmp $'q', %al
    je 2f
    out %al, %dx
    jmp 1b
2:  mov $0x501, %dx
    mov $5, %al
    out %al, %dx
    hlt
