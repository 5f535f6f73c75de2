/* Where data goes: NOINIT memory is not zeroed at boot (stacks, large I/O buffers; see linker.ld). */
#ifndef GUEST_SECTIONS_H
#define GUEST_SECTIONS_H

#define NOINIT __attribute__((section(".noinit")))

#endif
