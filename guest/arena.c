/* The ring-3 arena: see arena.h. */
#include "arena.h"
#include "ulib.h"

extern char _end[];

static unsigned long next, top;

void *arena_alloc(unsigned long bytes, unsigned long align) {
  if (!next) {
    next = (unsigned long)_end;
    top = info(INFO_RAM_TOP);
  }
  unsigned long at = (next + align - 1) & ~(align - 1);
  if (at + bytes > top || at + bytes < at) return 0;
  next = at + bytes;
  return (void *)at;
}
