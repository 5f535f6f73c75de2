/* The ring-3 programs: a TAP self-test (nodevmm.mode=selftest) and an interactive shell. They reach
 * the kernel only through the ud2 system calls of syscall.h. */
#include "ulib.h"
#include "blk.h"
#include "virtio.h"
#include "vsock.h"
#include "bench.h"
#include "probe.h"

#define LINE_MAX 128
#define BACKSPACE 0x08
#define DELETE 0x7f

static int equal(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

static int starts_with(const char *text, const char *prefix) {
  while (*prefix)
    if (*text++ != *prefix++) return 0;
  return 1;
}

/* ---- virtio devices ---- */

#define RNG_PROBE_BYTES 32
#define VSOCK_PROBE_BYTES 600

static unsigned char io_buffer[VIRTIO_DEPTH_MAX * VIRTIO_BLK_SECTOR_BYTES] __attribute__((aligned(16)));
static unsigned char vsock_out[VSOCK_PROBE_BYTES], vsock_back[VSOCK_PROBE_BYTES];

static void print_hex_bytes(const unsigned char *bytes, int count) {
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < count; i++) {
    char pair[3] = {hex[bytes[i] >> 4], hex[bytes[i] & 15], 0};
    print(pair);
  }
}

/* Echoes `length` bytes of a pattern through host port `port`, in `depth` packets where it can; 1
 * when they come back unchanged. */
static int vsock_round_trip(unsigned int port, unsigned int length, unsigned int depth) {
  for (unsigned int i = 0; i < length; i++) vsock_out[i] = (unsigned char)(i * 7 + 1);
  long got = vsock_echo(port, vsock_out, length, (length + depth - 1) / depth, vsock_back);
  if (got != (long)length) return 0;
  for (unsigned int i = 0; i < length; i++)
    if (vsock_back[i] != vsock_out[i]) return 0;
  return 1;
}

static int not_constant(const unsigned char *bytes, int count) {
  for (int i = 1; i < count; i++)
    if (bytes[i] != bytes[0]) return 1;
  return 0;
}

/* ---- self-test ---- */

static int test_number, failures;

static void check(int ok, const char *what) {
  test_number++;
  if (!ok) failures++;
  print(ok ? "ok " : "not ok ");
  print_dec((u64)test_number);
  print(" - ");
  print(what);
  print("\n");
}

static void selftest(void) {
  unsigned int depth = virtio_depth();
  int has_rng = virtio_find(VIRTIO_ID_ENTROPY) != 0, has_blk = virtio_find(VIRTIO_ID_BLOCK) != 0;
  int has_net = virtio_find(VIRTIO_ID_NET) != 0 && info(INFO_NET_IP) && info(INFO_NET_PEER);
  int has_vsock = virtio_find(VIRTIO_ID_VSOCK) != 0 && info(INFO_VSOCK_PORT);
  const int plan = 8 + has_rng + has_blk + has_net + has_vsock;
  print("TAP version 13\n1..");
  print_dec(plan);
  print("\n");
  check(sys(SYS_INFO, INFO_TICK_HZ, 0) == 100, "ring-3 program reaches the kernel through ud2 system calls");
  check(sys(SYS_PROBE, PROBE_SERIAL_SCRATCH, 0) == 1, "serial: COM1 scratch register round trip");
  long status = sys(SYS_PROBE, PROBE_I8042_STATUS, 0);
  check(status >= 0 && status != 0xff, "i8042: status port answers");
  u64 start = info(INFO_TIMER_IRQS), uptime = (u64)sys(SYS_TICKS, 0, 0);
  while (info(INFO_TIMER_IRQS) < start + 3) {
  }
  check(1, "timer: PIT ticks advance (interrupts reach the guest)");
  /* KVM re-injects PIT ticks a busy host delayed, back to back: the two clocks agree only over time. */
  while ((u64)sys(SYS_TICKS, 0, 0) == uptime && info(INFO_TIMER_IRQS) < start + 200) {
  }
  print(info(INFO_CLOCK) ? "# clock: kvmclock\n" : "# clock: counted PIT ticks\n");
  check((u64)sys(SYS_TICKS, 0, 0) > uptime, "clock: uptime advances while the timer ticks");
  u64 memory = info(INFO_MEMORY_BYTES), expect_mib = info(INFO_EXPECT_MEM_MIB);
  check(memory > 0 && (expect_mib == 0 || (memory >> 20) + 1 >= expect_mib), "memory: the E820 map covers the configured RAM");
  u64 online = info(INFO_CPUS_ONLINE), listed = info(INFO_CPUS_LISTED), expect_cpus = info(INFO_EXPECT_CPUS);
  check(online == listed, "smp: every CPU in the MP table came up");
  check(expect_cpus == 0 || online == expect_cpus, "smp: as many CPUs as configured");
  print("# virtio: up to ");
  print_dec(depth);
  print(" chains in flight per queue\n");
  if (has_rng) {
    long full = probe_rng(io_buffer, RNG_PROBE_BYTES, depth);
    check(full == depth && not_constant(io_buffer, RNG_PROBE_BYTES * depth), "virtio-rng: 32 random bytes, not constant");
  }
  if (has_blk) {
    check(probe_blk_read(io_buffer, 0, depth, depth) == depth, "virtio-blk: sector 0 read");
    print("# virtio-blk sector 0: ");
    print_hex_bytes(io_buffer, 16);
    print("\n");
  }
  if (has_net) check(probe_arp(depth) == 1, "virtio-net: ARP request answered by nodevmm.peer");
  if (has_vsock) check(vsock_round_trip((unsigned int)info(INFO_VSOCK_PORT), VSOCK_PROBE_BYTES, depth), "virtio-vsock: 600 bytes echoed by host port nodevmm.vsock");
  print("# cpus ");
  print_dec(online);
  print(", memory ");
  print_dec(memory >> 20);
  print(" MiB\n");
  sys(SYS_EXIT, failures, 0);
}

/* ---- shell ---- */

static void read_line(char *line) {
  int length = 0;
  for (;;) {
    char c = (char)sys(SYS_READ, 0, 0);
    if (c == '\r' || c == '\n') {
      print("\n");
      line[length] = 0;
      return;
    }
    if (c == BACKSPACE || c == DELETE) {
      if (length > 0) {
        length--;
        print("\b \b");
      }
      continue;
    }
    if (c < ' ' || length == LINE_MAX - 1) continue;
    line[length++] = c;
    char echo[2] = {c, 0};
    print(echo);
  }
}

/* What `note TEXT` keeps: shell state in guest memory (a restored or cloned guest still has it). */
static char note[LINE_MAX];

static void run_command(const char *line) {
  if (equal(line, "")) return;
  if (equal(line, "help")) {
    print("commands: help, uptime, cpus, mem, echo TEXT, note [TEXT], rng, blk SECTOR, blkw SECTOR TEXT, arp, vsock PORT TEXT, reboot, exit [N]\n");
  } else if (equal(line, "uptime")) {
    u64 ticks = (u64)sys(SYS_TICKS, 0, 0), hz = info(INFO_TICK_HZ);
    print("up ");
    print_dec(ticks / hz);
    print(" s (");
    print_dec(ticks);
    print(" ticks)\n");
  } else if (equal(line, "cpus")) {
    print_dec(info(INFO_CPUS_ONLINE));
    print(" online of ");
    print_dec(info(INFO_CPUS_LISTED));
    print("\n");
  } else if (equal(line, "mem")) {
    print_dec(info(INFO_MEMORY_BYTES) >> 20);
    print(" MiB\n");
  } else if (equal(line, "note")) {
    print("note: ");
    print(note);
    print("\n");
  } else if (starts_with(line, "note ")) {
    int i = 0;
    for (const char *p = line + 5; *p && i < LINE_MAX - 1; p++) note[i++] = *p;
    note[i] = 0;
  } else if (starts_with(line, "echo")) {
    print(line[4] == ' ' ? line + 5 : line + 4);
    print("\n");
  } else if (equal(line, "rng")) {
    if (probe_rng(io_buffer, 16, 1) != 1) {
      print("no virtio-rng device\n");
    } else {
      print_hex_bytes(io_buffer, 16);
      print("\n");
    }
  } else if (starts_with(line, "blkw ")) {
    u64 sector = 0;
    const char *p = line + 5;
    for (; *p >= '0' && *p <= '9'; p++) sector = sector * 10 + (u64)(*p - '0');
    if (*p == ' ') p++;
    for (unsigned int i = 0; i < VIRTIO_BLK_SECTOR_BYTES; i++) io_buffer[i] = 0;
    for (unsigned int i = 0; p[i] && i < VIRTIO_BLK_SECTOR_BYTES; i++) io_buffer[i] = (unsigned char)p[i];
    long written = probe_blk_write(io_buffer, sector, 1, 1);
    print(written == 1 ? "written\n" : written < 0 ? "no virtio-blk device\n" : "write failed\n");
  } else if (starts_with(line, "blk")) {
    u64 sector = 0;
    for (const char *p = line + 3; *p; p++)
      if (*p >= '0' && *p <= '9') sector = sector * 10 + (u64)(*p - '0');
    long read = probe_blk_read(io_buffer, sector, 1, 1);
    if (read != 1) {
      print(read < 0 ? "no virtio-blk device\n" : "read failed\n");
    } else {
      print_hex_bytes(io_buffer, 32);
      print("\n");
    }
  } else if (equal(line, "arp")) {
    int result = probe_arp(virtio_depth());
    print(result > 0 ? "peer answered\n" : result == 0 ? "no answer\n" : "no virtio-net device, or no nodevmm.ip/nodevmm.peer\n");
  } else if (starts_with(line, "vsock ")) {
    unsigned int port = 0;
    const char *p = line + 6;
    for (; *p >= '0' && *p <= '9'; p++) port = port * 10 + (unsigned int)(*p - '0');
    if (*p == ' ') p++;
    unsigned int length = (unsigned int)length_of(p);
    long got = vsock_echo(port, (const unsigned char *)p, length, VSOCK_PAYLOAD_MAX, vsock_back);
    if (got < 0) {
      print(got == -1 ? "no virtio-vsock device\n" : got == -3 ? "connection refused\n" : "no answer\n");
    } else {
      vsock_back[got < VSOCK_PROBE_BYTES ? got : VSOCK_PROBE_BYTES - 1] = 0;
      print("echoed: ");
      print((const char *)vsock_back);
      print("\n");
    }
  } else if (equal(line, "reboot")) {
    sys(SYS_REBOOT, 0, 0);
  } else if (starts_with(line, "exit")) {
    long status = 0;
    for (const char *p = line + 4; *p; p++)
      if (*p >= '0' && *p <= '9') status = status * 10 + (*p - '0');
    sys(SYS_EXIT, status, 0);
  } else {
    print(line);
    print(": unknown command (try help)\n");
  }
}

static void shell(void) {
  char line[LINE_MAX];
  print("node-vmm guest shell; type help\n");
  for (;;) {
    print("node-vmm> ");
    read_line(line);
    run_command(line);
  }
}

extern char _ubss_start[], _ubss_end[];

void user_main(void) {
  /* Our zero-initialised data (linker.ld's .ubss): cleared here, at native speed, not by ring 0. */
  unsigned long bytes = (unsigned long)(_ubss_end - _ubss_start);
  char *at = _ubss_start;
  __asm__ volatile("rep stosb" : "+D"(at), "+c"(bytes) : "a"(0) : "memory");
  if (info(INFO_BENCH)) bench_main();
  if (info(INFO_MODE_SELFTEST)) selftest();
  shell();
}
