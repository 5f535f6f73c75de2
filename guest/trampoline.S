/* Application-processor start-up code, copied to TRAMPOLINE_BASE (a SIPI vector's page) by smp.c:
 * real mode -> protected mode -> long mode with the kernel's page tables, then ap_main() on a stack
 * chosen by the AP's APIC id. Addresses are computed relative to where the copy runs. */
#define TRAMPOLINE_BASE 0x10000
#define AT(label) (TRAMPOLINE_BASE + (label - trampoline_start))

    .section .rodata
    .globl trampoline_start, trampoline_end, trampoline_cr3, trampoline_entry, trampoline_stacks
    .code16
trampoline_start:
    cli
    mov %cs, %ax
    mov %ax, %ds
    lgdtl (gdtr - trampoline_start)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x08, $AT(protected)

    .code32
protected:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %cr4, %eax
    or $0x20, %eax                  /* PAE */
    mov %eax, %cr4
    mov AT(trampoline_cr3), %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx           /* EFER */
    rdmsr
    or $0x100, %eax                 /* LME */
    wrmsr
    mov %cr0, %eax
    or $0x80000000, %eax            /* PG */
    mov %eax, %cr0
    ljmp $0x18, $AT(long_mode)

    .code64
long_mode:
    mov $1, %eax
    cpuid
    shr $24, %ebx                   /* initial APIC id */
    inc %rbx
    shl $12, %rbx                   /* 4 KiB of stack per CPU */
    mov AT(trampoline_stacks), %rsp
    add %rbx, %rsp
    mov AT(trampoline_entry), %rax
    call *%rax
1:  cli
    hlt
    jmp 1b

    .balign 8
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff        /* 0x08: 32-bit code */
    .quad 0x00cf92000000ffff        /* 0x10: data */
    .quad 0x00af9a000000ffff        /* 0x18: 64-bit code */
gdtr:
    .word gdtr - gdt - 1
    .long AT(gdt)
    .balign 8
trampoline_cr3:
    .quad 0
trampoline_entry:
    .quad 0
trampoline_stacks:
    .quad 0
trampoline_end:
