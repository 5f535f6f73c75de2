// 16550A register offsets and bits (as in the National Semiconductor datasheet and Linux's
// include/uapi/linux/serial_reg.h), and the PC's first serial port.

export const COM1_PORT = 0x3f8;
export const COM1_IRQ = 4;
/** Ports a 16550 decodes: base + 0..7. */
export const UART_PORT_COUNT = 8;
/** Bytes the 16550A's transmit and receive FIFOs hold. */
export const UART_FIFO_SIZE = 16;

/** Register offsets; RBR/THR/IER share offsets with DLL/DLM while LCR.DLAB is set. */
export const UartReg = {
  RBR: 0,
  THR: 0,
  DLL: 0,
  IER: 1,
  DLM: 1,
  IIR: 2,
  FCR: 2,
  LCR: 3,
  MCR: 4,
  LSR: 5,
  MSR: 6,
  SCR: 7,
} as const;

export const Ier = { RDI: 0x01, THRI: 0x02, RLSI: 0x04, MSI: 0x08, MASK: 0x0f } as const;

/** Interrupt identification: the low nibble names the source, bits 6-7 say the FIFOs are on. */
export const Iir = { NO_INT: 0x01, MSI: 0x00, THRI: 0x02, RDI: 0x04, RLSI: 0x06, ID_MASK: 0x0f, FIFO_ENABLED: 0xc0 } as const;

export const Fcr = { ENABLE_FIFO: 0x01, CLEAR_RCVR: 0x02, CLEAR_XMIT: 0x04, TRIGGER_MASK: 0xc0 } as const;

export const Lcr = { DLAB: 0x80 } as const;

export const Mcr = { DTR: 0x01, RTS: 0x02, OUT1: 0x04, OUT2: 0x08, LOOP: 0x10, MASK: 0x1f } as const;

export const Lsr = { DR: 0x01, OE: 0x02, THRE: 0x20, TEMT: 0x40 } as const;

export const Msr = {
  DCTS: 0x01,
  DDSR: 0x02,
  TERI: 0x04,
  DDCD: 0x08,
  CTS: 0x10,
  DSR: 0x20,
  RI: 0x40,
  DCD: 0x80,
  DELTA_MASK: 0x0f,
} as const;
