/* The ring-3 programs: a TAP self-test (nodevmm.mode=selftest) and an interactive shell. They reach
 * the kernel only through the ud2 system calls of syscall.h. */
#include "ulib.h"
#include "blk.h"
#include "virtio.h"
#include "vsock.h"
#include "bench.h"

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

static unsigned char io_buffer[VIRTIO_BLK_SECTOR_BYTES] __attribute__((aligned(16)));

static void print_hex_bytes(const unsigned char *bytes, int count) {
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < count; i++) {
    char pair[3] = {hex[bytes[i] >> 4], hex[bytes[i] & 15], 0};
    print(pair);
  }
}

/* Fills io_buffer with `count` random bytes from virtio-rng; returns the bytes delivered or -1. */
static long rng_read(int count) {
  u64 base = virtio_find(VIRTIO_ID_ENTROPY);
  if (!base || virtio_start(base, 1) != 0) return -1;
  struct virtio_buffer buffer = {io_buffer, (unsigned int)count, 1};
  return virtio_request(base, 0, &buffer, 1);
}

/* Reads one sector into io_buffer; returns the virtio-blk status (0 = ok) or -1. */
static int blk_read(u64 sector) {
  u64 base = virtio_find(VIRTIO_ID_BLOCK);
  if (!base || virtio_start(base, 1) != 0) return -1;
  return virtio_blk_request(base, VIRTIO_BLK_IN, sector, io_buffer, VIRTIO_BLK_SECTOR_BYTES);
}

#define NET_HEADER 12
#define ETH_ARP_BYTES 60
#define RX_QUEUE 0
#define TX_QUEUE 1
#define ARP_WAIT_TICKS 100
#define ARP_ATTEMPTS 8

static unsigned char net_tx[NET_HEADER + ETH_ARP_BYTES] __attribute__((aligned(16)));
static unsigned char net_rx[2048] __attribute__((aligned(16)));

static void put_ip(unsigned char *at, u64 ip) {
  for (int i = 0; i < 4; i++) at[i] = (unsigned char)(ip >> (24 - 8 * i));
}

/* Sends an ARP request for nodevmm.peer from nodevmm.ip over virtio-net and waits for the reply.
 * Returns 1 on a reply from the peer, 0 on none, -1 without a device or addresses. */
static int net_arp_exchange(void) {
  u64 base = virtio_find(VIRTIO_ID_NET), ip = info(INFO_NET_IP), peer = info(INFO_NET_PEER);
  if (!base || !ip || !peer || virtio_start(base, 2) != 0) return -1;
  unsigned char mac[6];
  for (int i = 0; i < 6; i++) mac[i] = virtio_config_byte(base, (unsigned int)i);
  unsigned char *frame = net_tx + NET_HEADER;
  for (int i = 0; i < NET_HEADER + ETH_ARP_BYTES; i++) net_tx[i] = 0;
  for (int i = 0; i < 6; i++) frame[i] = 0xff, frame[6 + i] = mac[i], frame[22 + i] = mac[i];
  frame[12] = 0x08, frame[13] = 0x06;                  /* ARP */
  frame[15] = 1, frame[16] = 0x08, frame[18] = 6, frame[19] = 4, frame[21] = 1; /* Ethernet/IPv4 request */
  put_ip(frame + 28, ip);
  put_ip(frame + 38, peer);
  struct virtio_buffer rx = {net_rx, sizeof net_rx, 1};
  virtio_offer(base, RX_QUEUE, &rx, 1);
  struct virtio_buffer tx = {net_tx, sizeof net_tx, 0};
  if (virtio_request(base, TX_QUEUE, &tx, 1) < 0) return 0;
  for (int attempt = 0; attempt < ARP_ATTEMPTS; attempt++) {
    if (virtio_wait(base, RX_QUEUE, ARP_WAIT_TICKS) < 0) return 0;
    const unsigned char *reply = net_rx + NET_HEADER;
    unsigned char sender[4];
    put_ip(sender, peer);
    int is_reply = reply[12] == 0x08 && reply[13] == 0x06 && reply[21] == 2;
    for (int i = 0; i < 4; i++) is_reply = is_reply && reply[28 + i] == sender[i];
    if (is_reply) return 1;
    virtio_offer(base, RX_QUEUE, &rx, 1); /* some other frame: listen again */
  }
  return 0;
}

#define VSOCK_PROBE_BYTES 600

static unsigned char vsock_out[VSOCK_PROBE_BYTES], vsock_back[VSOCK_PROBE_BYTES];

/* Echoes `length` bytes of a pattern through host port `port`; 1 when they come back unchanged. */
static int vsock_round_trip(unsigned int port, unsigned int length) {
  for (unsigned int i = 0; i < length; i++) vsock_out[i] = (unsigned char)(i * 7 + 1);
  long got = vsock_echo(port, vsock_out, length, vsock_back);
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
  int has_rng = virtio_find(VIRTIO_ID_ENTROPY) != 0, has_blk = virtio_find(VIRTIO_ID_BLOCK) != 0;
  int has_net = virtio_find(VIRTIO_ID_NET) != 0 && info(INFO_NET_IP) && info(INFO_NET_PEER);
  int has_vsock = virtio_find(VIRTIO_ID_VSOCK) != 0 && info(INFO_VSOCK_PORT);
  const int plan = 7 + has_rng + has_blk + has_net + has_vsock;
  print("TAP version 13\n1..");
  print_dec(plan);
  print("\n");
  check(sys(SYS_INFO, INFO_TICK_HZ, 0) == 100, "ring-3 program reaches the kernel through ud2 system calls");
  check(sys(SYS_PROBE, PROBE_SERIAL_SCRATCH, 0) == 1, "serial: COM1 scratch register round trip");
  long status = sys(SYS_PROBE, PROBE_I8042_STATUS, 0);
  check(status >= 0 && status != 0xff, "i8042: status port answers");
  u64 start = (u64)sys(SYS_TICKS, 0, 0);
  while ((u64)sys(SYS_TICKS, 0, 0) < start + 3) {
  }
  check(1, "timer: PIT ticks advance (interrupts reach the guest)");
  u64 memory = info(INFO_MEMORY_BYTES), expect_mib = info(INFO_EXPECT_MEM_MIB);
  check(memory > 0 && (expect_mib == 0 || (memory >> 20) + 1 >= expect_mib), "memory: the E820 map covers the configured RAM");
  u64 online = info(INFO_CPUS_ONLINE), listed = info(INFO_CPUS_LISTED), expect_cpus = info(INFO_EXPECT_CPUS);
  check(online == listed, "smp: every CPU in the MP table came up");
  check(expect_cpus == 0 || online == expect_cpus, "smp: as many CPUs as configured");
  if (has_rng) check(rng_read(32) == 32 && not_constant(io_buffer, 32), "virtio-rng: 32 random bytes, not constant");
  if (has_blk) {
    check(blk_read(0) == 0, "virtio-blk: sector 0 read");
    print("# virtio-blk sector 0: ");
    print_hex_bytes(io_buffer, 16);
    print("\n");
  }
  if (has_net) check(net_arp_exchange() == 1, "virtio-net: ARP request answered by nodevmm.peer");
  if (has_vsock) check(vsock_round_trip((unsigned int)info(INFO_VSOCK_PORT), VSOCK_PROBE_BYTES), "virtio-vsock: 600 bytes echoed by host port nodevmm.vsock");
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

static void run_command(const char *line) {
  if (equal(line, "")) return;
  if (equal(line, "help")) {
    print("commands: help, uptime, cpus, mem, echo TEXT, rng, blk SECTOR, arp, vsock PORT TEXT, reboot, exit [N]\n");
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
  } else if (starts_with(line, "echo")) {
    print(line[4] == ' ' ? line + 5 : line + 4);
    print("\n");
  } else if (equal(line, "rng")) {
    if (rng_read(16) != 16) {
      print("no virtio-rng device\n");
    } else {
      print_hex_bytes(io_buffer, 16);
      print("\n");
    }
  } else if (starts_with(line, "blk")) {
    u64 sector = 0;
    for (const char *p = line + 3; *p; p++)
      if (*p >= '0' && *p <= '9') sector = sector * 10 + (u64)(*p - '0');
    int status = blk_read(sector);
    if (status != 0) {
      print(status < 0 ? "no virtio-blk device\n" : "read failed\n");
    } else {
      print_hex_bytes(io_buffer, 32);
      print("\n");
    }
  } else if (equal(line, "arp")) {
    int result = net_arp_exchange();
    print(result > 0 ? "peer answered\n" : result == 0 ? "no answer\n" : "no virtio-net device, or no nodevmm.ip/nodevmm.peer\n");
  } else if (starts_with(line, "vsock ")) {
    unsigned int port = 0;
    const char *p = line + 6;
    for (; *p >= '0' && *p <= '9'; p++) port = port * 10 + (unsigned int)(*p - '0');
    if (*p == ' ') p++;
    unsigned int length = (unsigned int)length_of(p);
    long got = vsock_echo(port, (const unsigned char *)p, length, vsock_back);
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

void user_main(void) {
  if (info(INFO_BENCH)) bench_main();
  if (info(INFO_MODE_SELFTEST)) selftest();
  shell();
}
