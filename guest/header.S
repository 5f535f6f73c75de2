/* The Linux boot protocol setup header (Documentation/arch/x86/boot.rst), enough for a loader that
 * enters the 64-bit kernel directly (protocol 2.15, XLF_KERNEL_64). There is no real-mode setup code:
 * this guest supports only direct 64-bit entry. */
    .section .setup, ""             /* not loaded from the ELF: linker.ld */
    .org 0x1f1
    .byte 1                         /* setup_sects: 1 sector after the boot sector */
    .word 0                         /* root_flags */
    .long syssize_paragraphs        /* syssize */
    .word 0                         /* ram_size */
    .word 0                         /* vid_mode */
    .word 0                         /* root_dev */
    .word 0xaa55                    /* boot_flag */
    .org 0x200
    .byte 0xeb, header_end - after_jump /* jump over the header (its end tells its length) */
after_jump:
    .ascii "HdrS"
    .word 0x020f                    /* version 2.15 */
    .long 0                         /* realmode_swtch */
    .word 0                         /* start_sys_seg */
    .word 0                         /* kernel_version */
    .byte 0                         /* type_of_loader */
    .byte 0x01                      /* loadflags: LOADED_HIGH */
    .word 0                         /* setup_move_size */
    .long 0x100000                  /* code32_start */
    .long 0                         /* ramdisk_image */
    .long 0                         /* ramdisk_size */
    .long 0                         /* bootsect_kludge */
    .word 0                         /* heap_end_ptr */
    .byte 0                         /* ext_loader_ver */
    .byte 0                         /* ext_loader_type */
    .long 0                         /* cmd_line_ptr */
    .long 0x7fffffff                /* initrd_addr_max */
    .long 0x1000                    /* kernel_alignment */
    .byte 0                         /* relocatable_kernel: no, load at 1 MiB */
    .byte 12                        /* min_alignment (log2) */
    .word 0x0001                    /* xloadflags: XLF_KERNEL_64 */
    .long 2047                      /* cmdline_size */
    .long 0                         /* hardware_subarch */
    .quad 0                         /* hardware_subarch_data */
    .long 0                         /* payload_offset */
    .long 0                         /* payload_length */
    .quad 0                         /* setup_data */
    .quad 0x100000                  /* pref_address */
    .long init_size_bytes           /* init_size */
    .long 0                         /* handover_offset */
    .long 0                         /* kernel_info_offset */
header_end:
    .org 0x400                      /* setup_sects = 1: the boot sector and one sector */
