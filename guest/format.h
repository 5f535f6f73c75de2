/* Number formatting shared by the kernel's console output and the ring-3 programs (each links its own
 * copy: they run at different privilege levels and share no code at run time by design). */
#ifndef GUEST_FORMAT_H
#define GUEST_FORMAT_H

#define DECIMAL_DIGITS_MAX 21

/* Writes `value` in decimal at the end of `out` (NUL-terminated); returns where the digits start. */
static inline char *format_dec(unsigned long value, char out[DECIMAL_DIGITS_MAX]) {
  char *at = out + DECIMAL_DIGITS_MAX - 1;
  *at = 0;
  do {
    *--at = (char)('0' + value % 10);
    value /= 10;
  } while (value);
  return at;
}

#endif
