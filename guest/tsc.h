/* The time-stamp counter, read the same way by the ring-0 clock and the ring-3 benches. */
#ifndef GUEST_TSC_H
#define GUEST_TSC_H

static inline unsigned long rdtsc(void) {
  unsigned int low, high;
  __asm__ volatile("rdtsc" : "=a"(low), "=d"(high));
  return (unsigned long)high << 32 | low;
}

#endif
