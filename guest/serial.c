/* COM1 (16550): polled transmit, interrupt-driven receive into a small ring. */
#include "format.h"
#include "kernel.h"

#define COM1 0x3f8
#define REG_DATA 0
#define REG_IER 1
#define REG_FCR 2
#define REG_LCR 3
#define REG_MCR 4
#define REG_LSR 5
#define REG_SCR 7
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20
#define IER_RX_AVAILABLE 0x01
#define MCR_DTR_RTS_OUT2 0x0b
#define LCR_8N1 0x03
/* Enable the FIFOs and clear the transmitter only: input typed before boot is kept. */
#define FCR_ENABLE_CLEAR_TX 0x05
#define TX_SPIN_LIMIT 100000
#define RX_RING 256

static volatile u8 rx_ring[RX_RING];
static volatile u32 rx_head, rx_tail;

void serial_init(void) {
  outb(COM1 + REG_IER, 0);
  outb(COM1 + REG_LCR, LCR_8N1);
  outb(COM1 + REG_FCR, FCR_ENABLE_CLEAR_TX);
  outb(COM1 + REG_MCR, MCR_DTR_RTS_OUT2);
  outb(COM1 + REG_IER, IER_RX_AVAILABLE);
}

static void put_byte(u8 byte) {
  for (int spin = 0; spin < TX_SPIN_LIMIT && !(inb(COM1 + REG_LSR) & LSR_THR_EMPTY); spin++) {
  }
  outb(COM1 + REG_DATA, byte);
}

void serial_write(const char *text, u64 length) {
  for (u64 i = 0; i < length; i++) {
    if (text[i] == '\n') put_byte('\r');
    put_byte((u8)text[i]);
  }
}

void serial_puts(const char *text) {
  u64 length = 0;
  while (text[length]) length++;
  serial_write(text, length);
}

void serial_put_dec(u64 value) {
  char digits[DECIMAL_DIGITS_MAX];
  serial_puts(format_dec(value, digits));
}

void serial_put_hex(u64 value) {
  static const char hex[] = "0123456789abcdef";
  char text[19] = "0x";
  for (int i = 0; i < 16; i++) text[2 + i] = hex[(value >> (60 - 4 * i)) & 0xf];
  text[18] = 0;
  serial_puts(text);
}

/* IRQ 4: move every received byte into the ring (dropping what does not fit). */
void serial_on_interrupt(void) {
  while (inb(COM1 + REG_LSR) & LSR_DATA_READY) {
    u8 byte = inb(COM1 + REG_DATA);
    u32 next = (rx_head + 1) % RX_RING;
    if (next != rx_tail) {
      rx_ring[rx_head] = byte;
      rx_head = next;
    }
  }
}

/* A received byte, or -1 when none is waiting. Called with interrupts off. The UART is also polled
 * here: bytes that arrived before the PIC was set up raised IRQ 4 before anyone listened, and the
 * line stays up, so no new edge would ever announce them. */
int serial_take_char(void) {
  serial_on_interrupt();
  if (rx_tail == rx_head) return -1;
  int byte = rx_ring[rx_tail];
  rx_tail = (rx_tail + 1) % RX_RING;
  return byte;
}

/* The scratch register keeps what is written to it. */
int serial_scratch_ok(void) {
  outb(COM1 + REG_SCR, 0xa5);
  if (inb(COM1 + REG_SCR) != 0xa5) return 0;
  outb(COM1 + REG_SCR, 0x5a);
  return inb(COM1 + REG_SCR) == 0x5a;
}
