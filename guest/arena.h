/* RAM for the ring-3 programs' queues and I/O buffers, handed out from just past the kernel image
 * (linker.ld's _end) up to the end of its RAM region. Never freed: callers allocate once and reuse.
 * Not part of the image, so a loader neither copies nor zeroes it. */
#ifndef GUEST_ARENA_H
#define GUEST_ARENA_H

/* `bytes` of uninitialised memory aligned to `align` (a power of two), or 0 when RAM runs out. */
void *arena_alloc(unsigned long bytes, unsigned long align);

#endif
