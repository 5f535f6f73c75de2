/* Two-vCPU rendezvous in long mode: each vCPU atomically increments the counter at 0x8000, then waits
 * until the counter reaches the vCPU count in RSI. It only gets past the wait if the other vCPU runs
 * at the same time. Then it reports its id (RAX, set by the VMM) on port 0x10 and halts. */
    .code64
    .text
    .globl _start
_start:
    mov $0x8000, %rdi
    lock incl (%rdi)
1:  pause
    cmpl %esi, (%rdi)
    jb 1b
    out %eax, $0x10
    hlt
