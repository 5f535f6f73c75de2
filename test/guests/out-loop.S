/* Real mode: RCX (set by the VMM) port writes of AL to port 0x10, then HLT. The exit-cost benchmark
 * runs it under node-vmm and under its C baseline. */
    .code16
    .text
    .globl _start
_start:
1:  out %al, $0x10
    dec %ecx
    jnz 1b
    hlt
