/* 64-bit long mode, loaded at 0x100000 (ring 0, identity map): installs an IDT whose #MF gate counts
 * x87 faults in R12, records the faulting RIP in RBX and clears the exception (fnclex), and whose #NM
 * gate counts in R13; with RDX = the fwait's address executes it, then HLT with RCX = the address
 * just after it. Where KVM's emulator runs guest ring 0 (nested PVM) the fwait cannot run
 * there, and the VMM finishes it when no x87 exception is pending (lib/arch/x86_64/emulator-completion.ts). */
    .code64
    .text
    .globl _start
_start:
    mov $0x300000, %rsp
    xor %ebx, %ebx
    xor %r12d, %r12d
    xor %r13d, %r13d
    lea idt(%rip), %rdi
    lea device_not_available(%rip), %rax
    lea 7*16(%rdi), %rsi
    call set_gate
    lea math_fault(%rip), %rax
    lea 16*16(%rdi), %rsi
    call set_gate
    mov %rdi, idtr+2(%rip)
    lidt idtr(%rip)
    lea wait_here(%rip), %rdx
wait_here:
    fwait
after:
    lea after(%rip), %rcx
    hlt

/* RSI = the gate, RAX = the handler: a present, DPL 0, 64-bit interrupt gate in the code segment. */
set_gate:
    mov %ax, (%rsi)
    movw $0x8, 2(%rsi)
    movw $0x8e00, 4(%rsi)
    shr $16, %rax
    mov %ax, 6(%rsi)
    shr $16, %rax
    mov %eax, 8(%rsi)
    ret

math_fault:
    mov (%rsp), %rbx
    inc %r12
    fnclex
    iretq

device_not_available:
    inc %r13
    clts
    iretq

    .balign 16
idt:
    .fill 17*16, 1, 0
idtr:
    .word 17*16-1
    .quad 0
