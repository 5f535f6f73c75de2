/* What the ring-3 programs share: the ud2 system call and console output (see syscall.h). */
#ifndef GUEST_ULIB_H
#define GUEST_ULIB_H

#include "format.h"
#include "sections.h"
#include "syscall.h"

static inline long sys(long number, long a, long b) {
  long result;
  __asm__ volatile("ud2" : "=a"(result) : "a"(number), "D"(a), "S"(b) : "memory");
  return result;
}

static inline unsigned long length_of(const char *text) {
  unsigned long n = 0;
  while (text[n]) n++;
  return n;
}

static inline void print(const char *text) { sys(SYS_WRITE, (long)text, (long)length_of(text)); }

static inline void print_dec(unsigned long value) {
  char digits[DECIMAL_DIGITS_MAX];
  print(format_dec(value, digits));
}

static inline unsigned long info(long which) { return (unsigned long)sys(SYS_INFO, which, 0); }

#endif
