/* The PVH entry (the x86/HVM direct boot ABI that QEMU's -kernel uses for ELF images): an ELF note
 * XEN_ELFNOTE_PHYS32_ENTRY naming a 32-bit entry point, entered in flat 32-bit protected mode with
 * paging off and EBX = the physical address of struct hvm_start_info. It loads its own GDT, turns on
 * long mode with the boot page tables of entry.S and joins the 64-bit entry at boot_common. */
#include "layout.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define CR4_PAE 0x20
#define CR0_PE_PG 0x80000001
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100

    .section .note.pvh, "a", @note
    .balign 4
    .long 4                         /* namesz: "Xen" and its NUL */
    .long 8                         /* descsz: QEMU 7.2 reads 8 bytes on 64-bit ELF, Linux writes 8 */
    .long XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .balign 4
    .quad pvh_start32

    .text
    .code32
pvh_start32:
    cli
    cld
    lgdtl pvh_gdtr
    mov %cr4, %eax
    or $CR4_PAE, %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $MSR_EFER, %ecx
    rdmsr
    or $EFER_LME, %eax
    wrmsr
    mov %cr0, %eax
    or $CR0_PE_PG, %eax
    mov %eax, %cr0
    ljmp $KERNEL_CS, $pvh_start64

    .code64
pvh_start64:
    mov $KERNEL_DS, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %ebx, %r15d                 /* hvm_start_info (below 4 GiB by the ABI) */
    mov $BOOT_PVH, %r14d
    jmp boot_common

    .section .rodata
    .balign 8
pvh_gdt:                            /* the selectors kmain()'s own GDT uses too */
    .quad 0
    .quad 0x00af9a000000ffff        /* KERNEL_CS: 64-bit code */
    .quad 0x00cf92000000ffff        /* KERNEL_DS: data */
pvh_gdtr:
    .word pvh_gdtr - pvh_gdt - 1
    .long pvh_gdt
