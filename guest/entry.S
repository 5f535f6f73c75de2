/* Entry points: the 64-bit boot entry (kernel offset 0x200) and what it shares with the PVH entry
 * (pvh.S): the boot page tables and the jump to kmain(); interrupt/exception stubs that save a trap
 * frame and call trap() in C, the switch to ring 3, and the reload of segment registers. */
#include "layout.h"

    .section .text.head32, "ax"
    .code32
head32:                             /* 32-bit entry: not supported, this guest boots in 64-bit only */
1:  hlt
    jmp 1b

    .section .text.entry64, "ax"
    .code64
    .globl startup_64
startup_64:                         /* Linux boot protocol: RSI = boot_params (zero page), paging on */
    cli
    cld
    mov %rsi, %r15
    mov $BOOT_ZERO_PAGE, %r14d
    .globl boot_common
boot_common:                        /* R15 = what the loader gave us, R14 = BOOT_*, interrupts off */
    lea _bss_start(%rip), %rdi
    lea _bss_end(%rip), %rcx
    sub %rdi, %rcx
    shr $3, %rcx
    xor %eax, %eax
    rep stosq
    mov kernel_stack_top_ptr(%rip), %rsp
    mov %r15, %rdi
    mov %r14d, %esi
    call kmain
1:  hlt
    jmp 1b

/* The page tables both entries run on, built at link time (no ring-0 loop filling them at boot):
 * the first GiB identity-mapped in 2 MiB pages, user-accessible (the ring-3 programs live in this
 * image); PDPT slot 3 (3-4 GiB, MMIO) is filled by map_mmio_page(). */
    .section .data
    .balign 4096
    .globl boot_pml4, boot_pdpt, boot_pd
boot_pml4:
    .quad boot_pdpt + PAGE_PRESENT_WRITE_USER
    .fill 511, 8, 0
boot_pdpt:
    .quad boot_pd + PAGE_PRESENT_WRITE_USER
    .fill 511, 8, 0
boot_pd:
    .set page, 0
    .rept 512
    .quad (page << 21) | PAGE_PRESENT_WRITE_USER | PAGE_LARGE
    .set page, page + 1
    .endr

    .text
/* reload_segments(): after lgdt, CS via a far return, data segments directly. */
    .globl reload_segments
reload_segments:
    mov $KERNEL_DS, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %eax, %eax
    mov %ax, %fs
    mov %ax, %gs
    pop %rax
    pushq $KERNEL_CS
    push %rax
    lretq

/* enter_user(entry, stack): iretq into ring 3 with interrupts enabled. */
    .globl enter_user
enter_user:
    pushq $USER_DS
    push %rsi
    pushq $0x202
    pushq $USER_CS
    push %rdi
    mov $USER_DS, %ax
    mov %ax, %ds
    mov %ax, %es
    iretq

.macro stub vector, has_error
    .globl isr_\vector
isr_\vector:
    .if \has_error == 0
    pushq $0
    .endif
    pushq $\vector
    jmp isr_common
.endm

    stub 0, 0
    stub 1, 0
    stub 2, 0
    stub 3, 0
    stub 4, 0
    stub 5, 0
    stub 6, 0
    stub 7, 0
    stub 8, 1
    stub 9, 0
    stub 10, 1
    stub 11, 1
    stub 12, 1
    stub 13, 1
    stub 14, 1
    stub 15, 0
    stub 16, 0
    stub 17, 1
    stub 18, 0
    stub 19, 0
    stub 32, 0
    stub 33, 0
    stub 34, 0
    stub 35, 0
    stub 36, 0
    stub 37, 0
    stub 38, 0
    stub 39, 0
    stub 255, 0

isr_common:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi
    call trap
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp
    iretq
