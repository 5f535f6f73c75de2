/* The system call ABI between the ring-3 programs and the kernel: `ud2` with the call number in RAX
 * and arguments in RDI, RSI; the result comes back in RAX and execution resumes after the ud2.
 * (On nested-PVM hosts neither `syscall` nor `int 0x80` reach ring 0 from ring 3; exceptions do.) */
#ifndef GUEST_SYSCALL_H
#define GUEST_SYSCALL_H

enum {
  SYS_WRITE = 1,   /* (buffer, length): write to the console */
  SYS_READ = 2,    /* (): the next console byte; waits for one */
  SYS_TICKS = 3,   /* (): uptime in timer ticks (INFO_TICK_HZ a second) */
  SYS_INFO = 4,    /* (INFO_*): a number the kernel knows */
  SYS_EXIT = 5,    /* (status): end the VM through the debug-exit port */
  SYS_REBOOT = 6,  /* (): reset through the i8042 */
  SYS_PROBE = 7,   /* (PROBE_*): a device check done in ring 0 */
  SYS_PIO_LOOP = 8, /* (port, count): `count` one-byte OUTs to `port` from ring 0, interrupts off */
};

enum {
  INFO_MEMORY_BYTES = 0,   /* usable RAM from the E820 map */
  INFO_CPUS_ONLINE = 1,    /* CPUs running (the boot CPU and every AP that came up) */
  INFO_CPUS_LISTED = 2,    /* CPUs in the MP table (1 without one) */
  INFO_MODE_SELFTEST = 3,  /* nodevmm.mode=selftest given */
  INFO_EXPECT_MEM_MIB = 4, /* nodevmm.mem=N, or 0 */
  INFO_EXPECT_CPUS = 5,    /* nodevmm.cpus=N, or 0 */
  INFO_TICK_HZ = 6,
  INFO_VIRTIO_COUNT = 7,   /* virtio_mmio.device= entries on the command line */
  INFO_VIRTIO_BASE = 8,    /* + i (i < 8): the i-th device's MMIO base (mapped for ring 3) */
  INFO_NET_IP = 16,        /* nodevmm.ip=a.b.c.d as a 32-bit number, or 0 */
  INFO_NET_PEER = 17,      /* nodevmm.peer=a.b.c.d, or 0 */
  INFO_VSOCK_PORT = 18,    /* nodevmm.vsock=PORT: a host port that echoes, or 0 */
  INFO_BENCH = 19,         /* nodevmm.bench=NAME as BENCH_*, or 0 */
  INFO_COUNT = 20,         /* nodevmm.count=N: frames, KiB or requests a bench moves */
  INFO_DEPTH = 21,         /* nodevmm.depth=N: chains a driver keeps in flight per queue, or 0 */
  INFO_RAM_TOP = 22,       /* end of the RAM the kernel was loaded into (at most 1 GiB: the ring-3 map) */
  INFO_TIMER_IRQS = 23,    /* timer interrupts taken (SYS_TICKS is uptime, read from kvmclock where there is one) */
  INFO_CLOCK = 24,         /* 1 when kvmclock gives the time (the timer then stops while the shell waits) */
};

/* nodevmm.bench=NAME: BENCH_* is the index of NAME in BENCH_NAMES (0: none). */
enum { BENCH_NET_TX = 1, BENCH_NET_RX, BENCH_VSOCK_TX, BENCH_VSOCK_RX, BENCH_BLK_READ, BENCH_BLK_WRITE, BENCH_PIO, BENCH_MARKER, BENCH_COUNT };
#define BENCH_NAMES {"none", "net-tx", "net-rx", "vsock-tx", "vsock-rx", "blk-read", "blk-write", "pio", "marker"}

/* The bench=marker window: a guest-physical address in the 32-bit MMIO gap that a host bench device
 * serves (lib/guest/bundled.ts names the same address). The kernel maps its 2 MiB page for ring 3. */
#define BENCH_MARKER_ADDRESS 0xd0200000ul

enum {
  PROBE_SERIAL_SCRATCH = 0, /* 1 when COM1's scratch register holds what was written */
  PROBE_I8042_STATUS = 1,   /* the i8042 status byte */
};

#endif
