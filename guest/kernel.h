/* The tiny guest's kernel side: port I/O, the console, and what the ring-0 code shares. */
#ifndef GUEST_KERNEL_H
#define GUEST_KERNEL_H

#include "sections.h"

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef long i64;

static inline void outb(u16 port, u8 value) { __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port)); }
static inline void outl(u16 port, u32 value) { __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port)); }
static inline u8 inb(u16 port) {
  u8 value;
  __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}

/* The trap frame isr_common builds (entry.S), lowest address first. */
struct frame {
  u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
  u64 vector, error, rip, cs, rflags, rsp, ss;
};

/* serial.c */
void serial_init(void);
void serial_write(const char *text, u64 length);
void serial_puts(const char *text);
void serial_put_hex(u64 value);
void serial_put_dec(u64 value);
void serial_on_interrupt(void);
int serial_take_char(void);
int serial_scratch_ok(void);

/* keyboard.c: true once Ctrl-Alt-Del has been pressed */
int keyboard_on_interrupt(void);

/* smp.c */
u32 mp_table_cpus(void);
void lapic_virtual_wire(void);
u32 start_application_processors(u32 expected);

/* clock.c */
void clock_init(void);
int clock_available(void);
u64 uptime_ticks(void); /* timer ticks since boot, read from the clock where there is one */

/* kernel.c */
#define TICK_HZ 100
extern volatile u64 ticks; /* timer interrupts taken */
void wait_ticks(u64 count);
void debug_exit(u32 status);
void map_mmio_page(u64 address, u64 flags);
#define VIRTIO_MAX 8

#endif
