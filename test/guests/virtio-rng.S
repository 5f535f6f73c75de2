/* A minimal virtio-mmio driver for the entropy device, in long mode. RDI = device base,
 * RSI = ring area (desc table at +0, avail ring at +0x80, used ring at +0x100), RDX = buffer.
 * Negotiates VERSION_1, sets up queue 0 with 8 entries, offers one 64-byte writable buffer, notifies,
 * polls the used ring, acks the interrupt and ends through the debug-exit port (0x501) with
 * status = interrupt status << 16 | used length (0xdead when the device never answered or refused). */
    .code64
    .text
    .globl _start
_start:
    movl $0, 0x70(%rdi)            /* Status: reset */
    movl $1, 0x70(%rdi)            /* ACKNOWLEDGE */
    movl $3, 0x70(%rdi)            /* DRIVER */
    movl $1, 0x24(%rdi)            /* DriverFeaturesSel 1 */
    movl $1, 0x20(%rdi)            /* VERSION_1 (bit 32) */
    movl $0, 0x24(%rdi)
    movl $0, 0x20(%rdi)
    movl $11, 0x70(%rdi)           /* FEATURES_OK */
    movl 0x70(%rdi), %eax
    test $8, %eax
    jz fail
    movl $0, 0x30(%rdi)            /* QueueSel 0 */
    movl $8, 0x38(%rdi)            /* QueueNum 8 */
    movl %esi, 0x80(%rdi)          /* QueueDesc */
    movl $0, 0x84(%rdi)
    lea 0x80(%rsi), %eax
    movl %eax, 0x90(%rdi)          /* QueueDriver (avail) */
    movl $0, 0x94(%rdi)
    lea 0x100(%rsi), %eax
    movl %eax, 0xa0(%rdi)          /* QueueDevice (used) */
    movl $0, 0xa4(%rdi)
    movl $1, 0x44(%rdi)            /* QueueReady */
    movl $15, 0x70(%rdi)           /* DRIVER_OK */
    mov %rdx, (%rsi)               /* descriptor 0: buffer, 64 bytes, WRITE */
    movl $64, 8(%rsi)
    movw $2, 12(%rsi)
    movw $0, 14(%rsi)
    movw $0, 0x80(%rsi)            /* avail.flags */
    movw $0, 0x84(%rsi)            /* avail.ring[0] = 0 */
    movw $1, 0x82(%rsi)            /* avail.idx = 1 */
    movl $0, 0x50(%rdi)            /* QueueNotify 0 */
    mov $100000000, %rcx
1:  cmpw $1, 0x102(%rsi)           /* used.idx */
    je 2f
    pause
    dec %rcx
    jnz 1b
    jmp fail
2:  movl 0x60(%rdi), %eax          /* InterruptStatus */
    movl %eax, 0x64(%rdi)          /* InterruptACK */
    shl $16, %eax
    or 0x108(%rsi), %eax           /* used.ring[0].len */
    jmp done
fail:
    mov $0xdead, %eax
done:
    mov $0x501, %dx
    out %eax, %dx
    hlt
