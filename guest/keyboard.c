/* The keyboard: what the i8042 passes on (scan code set 1, the controller translating), read on IRQ 1.
 * Only Ctrl-Alt-Del means anything here: the host presses it (Firecracker's SendCtrlAltDel) to make
 * the guest reboot. */
#include "kernel.h"

#define I8042_DATA 0x60
#define I8042_STATUS 0x64
#define STATUS_OUTPUT_FULL 0x01
#define EXTENDED_PREFIX 0xe0
#define RELEASED 0x80
#define KEY_CTRL 0x1d
#define KEY_ALT 0x38
#define KEY_DELETE 0x53 /* after the extended prefix */

static int extended, ctrl_down, alt_down;

int keyboard_on_interrupt(void) {
  int reboot = 0;
  while (inb(I8042_STATUS) & STATUS_OUTPUT_FULL) {
    u8 code = inb(I8042_DATA);
    if (code == EXTENDED_PREFIX) {
      extended = 1;
      continue;
    }
    int down = !(code & RELEASED);
    code &= (u8)~RELEASED;
    if (code == KEY_CTRL) ctrl_down = down;
    else if (code == KEY_ALT) alt_down = down;
    else if (extended && code == KEY_DELETE && down && ctrl_down && alt_down) reboot = 1;
    extended = 0;
  }
  return reboot;
}
