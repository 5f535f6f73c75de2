/* 64-bit long mode, loaded at 0x100000 (ring 0, identity map): installs an IDT whose #BP gate counts
 * breakpoints in R12 and records the return RIP the CPU pushed in RBX, executes int3, then HLT with
 * RCX = the address just after the int3. Where KVM's emulator runs guest ring 0 (nested PVM) the int3
 * cannot run there, and the VMM finishes it (lib/arch/x86_64/emulator-completion.ts). */
    .code64
    .text
    .globl _start
_start:
    mov $0x300000, %rsp
    xor %ebx, %ebx
    xor %r12d, %r12d
    lea idt(%rip), %rdi
    lea breakpoint(%rip), %rax
    mov %ax, 3*16(%rdi)            /* offset 15:0 */
    movw $0x8, 3*16+2(%rdi)        /* kernel code selector */
    movw $0x8e00, 3*16+4(%rdi)     /* present, DPL 0, 64-bit interrupt gate */
    shr $16, %rax
    mov %ax, 3*16+6(%rdi)          /* offset 31:16 */
    shr $16, %rax
    mov %eax, 3*16+8(%rdi)         /* offset 63:32 */
    mov %rdi, idtr+2(%rip)
    lidt idtr(%rip)
    int3
after:
    lea after(%rip), %rcx
    hlt

breakpoint:
    mov (%rsp), %rbx
    inc %r12
    iretq

    .balign 16
idt:
    .fill 16*16, 1, 0
idtr:
    .word 16*16-1
    .quad 0
