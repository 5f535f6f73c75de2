/* Spins forever without exits: only a kick from the VMM gets it out of KVM_RUN. */
    .code16
    .text
    .globl _start
_start:
1:  jmp 1b
