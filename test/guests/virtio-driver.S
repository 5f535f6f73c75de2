/* The driver half of a virtio-mmio exchange, in long mode; the test lays out descriptors, buffers and
 * the avail ring entries in guest memory beforehand. RDI = device base, RSI = rings (descriptor table
 * at +0, avail ring at +0x100, used ring at +0x200; queue size <= 16), R9 = driver features,
 * R10 = queue size, R11 = chains to make available per round, R12 = rounds, R13 = 1 to pulse the
 * i8042 reset line right after the first notify instead of waiting (the VM ends with 'reset' while
 * the device still works on the chains). It negotiates R9, sets
 * up queue 0, then R12 times: avail.idx += R11, notify, poll until used.idx catches up (so R11 should
 * divide the queue size when R12 > 1: each round reuses the same avail slots). Then it waits for
 * InterruptStatus to be set (a bounded number of reads: 0 if it never is), acks it and ends
 * through the debug-exit port (0x501) with the interrupt status (0xdead: FEATURES_OK refused or no
 * answer). */
    .code64
    .text
    .globl _start
_start:
    movl $0, 0x70(%rdi)            /* Status: reset */
    movl $1, 0x70(%rdi)            /* ACKNOWLEDGE */
    movl $3, 0x70(%rdi)            /* DRIVER */
    movl $0, 0x24(%rdi)            /* DriverFeaturesSel 0 */
    movl %r9d, 0x20(%rdi)
    shr $32, %r9
    movl $1, 0x24(%rdi)            /* DriverFeaturesSel 1 */
    movl %r9d, 0x20(%rdi)
    movl $11, 0x70(%rdi)           /* FEATURES_OK */
    movl 0x70(%rdi), %eax
    test $8, %eax
    jz fail
    movl $0, 0x30(%rdi)            /* QueueSel 0 */
    movl %r10d, 0x38(%rdi)         /* QueueNum */
    movl %esi, 0x80(%rdi)          /* QueueDesc */
    movl $0, 0x84(%rdi)
    lea 0x100(%rsi), %eax
    movl %eax, 0x90(%rdi)          /* QueueDriver (avail) */
    movl $0, 0x94(%rdi)
    lea 0x200(%rsi), %eax
    movl %eax, 0xa0(%rdi)          /* QueueDevice (used) */
    movl $0, 0xa4(%rdi)
    movl $1, 0x44(%rdi)            /* QueueReady */
    movl $15, 0x70(%rdi)           /* DRIVER_OK */
    xor %ebx, %ebx                 /* the avail index we have published */
round:
    add %r11d, %ebx
    movw %bx, 0x102(%rsi)          /* avail.idx */
    movl $0, 0x50(%rdi)            /* QueueNotify 0 */
    test %r13, %r13
    jz 5f
    mov $0xfe, %al                 /* i8042: pulse the reset line */
    out %al, $0x64
    hlt
5:  mov $100000000, %rcx
1:  cmpw %bx, 0x202(%rsi)          /* used.idx */
    je 2f
    pause
    dec %rcx
    jnz 1b
    jmp fail
2:  dec %r12
    jnz round
    /* The device sets InterruptStatus just after it updates the used ring: wait for the bit too. */
    mov $100000, %rcx
3:  movl 0x60(%rdi), %eax          /* InterruptStatus */
    test %eax, %eax
    jnz 4f
    pause
    dec %rcx
    jnz 3b
4:  movl %eax, 0x64(%rdi)          /* InterruptACK */
    jmp done
fail:
    mov $0xdead, %eax
done:
    mov $0x501, %dx
    out %eax, %dx
    hlt
