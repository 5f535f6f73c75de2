/* The guest half of the benchmarks (bench/), in ring 3: nodevmm.mode=bench nodevmm.bench=NAME moves
 * nodevmm.count units through one device with up to nodevmm.depth chains in flight per queue
 * (completions reaped in batches, the device notified once per refill), then reports and exits.
 *   blk-read  N 64 KiB reads                blk-write N 64 KiB writes   (sequential over 4 MiB)
 *   net-tx    N frames of 1514 bytes sent   net-rx    N frames received
 *   vsock-tx  N KiB sent to host port P     vsock-rx  N KiB received from host port P
 *   pio       N one-byte OUTs to port 0x80 from ring 0 (no device claims it in node-vmm or QEMU)
 *   marker    forever: a 32-bit write of the running count to BENCH_MARKER_ADDRESS every ~100 us
 * (P = nodevmm.vsock). The host times the whole VM at two counts, so boot cancels out. */
#include "bench.h"
#include "tsc.h"
#include "arena.h"
#include "blk.h"
#include "ulib.h"
#include "virtio.h"
#include "vsock.h"

#define NET_HEADER 12
#define FRAME_BYTES 1514
#define NET_RX_BYTES (NET_HEADER + 2048)
#define RX_QUEUE 0
#define TX_QUEUE 1
#define WAIT_TICKS 500
#define KIB 1024
#define BLK_REQUEST_BYTES (64 * KIB)
#define BLK_WINDOW_REQUESTS 64
#define PIO_BENCH_PORT 0x80
#define MARKER_INTERVAL_US 100
#define CALIBRATION_TICKS 2
#define US_PER_SECOND 1000000

static unsigned char *buffers[VIRTIO_DEPTH_MAX];
static unsigned char chunk[VSOCK_PAYLOAD_MAX] __attribute__((aligned(16)));
static u64 bench_base;
static int bench_queue;

/* `count` buffers of `bytes` each from the arena (once per boot): 0, or -1 when RAM runs out. */
static int allocate_buffers(unsigned int count, unsigned long bytes) {
  for (unsigned int i = 0; i < count; i++)
    if (!buffers[i] && !(buffers[i] = arena_alloc(bytes, 4096))) return -1;
  return 0;
}

static unsigned int clamp_depth(u64 base, int queue, unsigned int descriptors_per_chain) {
  unsigned int depth = virtio_depth(), room = virtio_queue_size(base, queue) / descriptors_per_chain;
  return depth < room ? depth : room;
}

/* Waits for completions and reaps them all: how many came back (0 when none came in time, -1 when
 * the device returned a chain that was not in flight). */
static long reap_batch(u64 base, int queue) {
  if (virtio_wait_used(base, queue, WAIT_TICKS) != 0) return 0;
  long back = 0;
  void *token;
  unsigned int length;
  int got;
  while ((got = virtio_get(base, queue, &token, &length)) == 1) back++;
  return got < 0 ? -1 : back;
}

static u64 blk_sector(long i) {
  return (u64)(i % BLK_WINDOW_REQUESTS) * (BLK_REQUEST_BYTES / VIRTIO_BLK_SECTOR_BYTES);
}

static void *blk_buffer(long i, unsigned int slot) {
  (void)i;
  return buffers[slot]; /* D rotating buffers */
}

static long blk(long count, unsigned int type) {
  u64 base = virtio_find(VIRTIO_ID_BLOCK);
  if (!base || virtio_start(base, 1, VIRTIO_BLK_FEATURES) != 0) return -1;
  unsigned int depth = clamp_depth(base, 0, VIRTIO_BLK_CHAIN);
  if (allocate_buffers(depth, BLK_REQUEST_BYTES) != 0) return -1;
  bench_base = base, bench_queue = 0;
  return virtio_blk_requests(base, type, count, depth, BLK_REQUEST_BYTES, blk_sector, blk_buffer);
}

static long net_tx(long count) {
  u64 base = virtio_find(VIRTIO_ID_NET);
  if (!base || virtio_start(base, 2, 0) != 0) return -1;
  unsigned int depth = clamp_depth(base, TX_QUEUE, 1);
  if (allocate_buffers(depth, NET_HEADER + FRAME_BYTES) != 0) return -1;
  bench_base = base, bench_queue = TX_QUEUE;
  for (unsigned int b = 0; b < depth; b++) {
    unsigned char *frame = buffers[b] + NET_HEADER;
    for (int i = 0; i < NET_HEADER; i++) buffers[b][i] = 0;
    for (int i = 0; i < 6; i++) frame[i] = 0xff; /* broadcast */
    for (int i = 0; i < 6; i++) frame[6 + i] = (unsigned char)(i == 0 ? 0x02 : i);
    frame[12] = 0x88, frame[13] = 0xb5; /* local experimental ethertype */
  }
  long issued = 0, done = 0;
  unsigned int next = 0;
  while (done < count) {
    for (; issued < count && issued - done < depth; issued++) {
      struct virtio_buffer tx = {buffers[next], NET_HEADER + FRAME_BYTES, 0};
      virtio_add(base, TX_QUEUE, &tx, 1, buffers[next]);
      next = (next + 1) % depth;
    }
    long back = reap_batch(base, TX_QUEUE);
    if (back <= 0) return done;
    done += back;
  }
  return done;
}

static long net_rx(long count) {
  u64 base = virtio_find(VIRTIO_ID_NET);
  if (!base || virtio_start(base, 2, 0) != 0) return -1;
  unsigned int depth = clamp_depth(base, RX_QUEUE, 1);
  if (allocate_buffers(depth, NET_RX_BYTES) != 0) return -1;
  bench_base = base, bench_queue = RX_QUEUE;
  for (unsigned int i = 0; i < depth; i++) {
    struct virtio_buffer rx = {buffers[i], NET_RX_BYTES, 1};
    virtio_add(base, RX_QUEUE, &rx, 1, buffers[i]);
  }
  long done = 0;
  while (done < count) {
    /* Reap a batch, then offer its buffers again: the next wait notifies once for all of them. */
    if (virtio_wait_used(base, RX_QUEUE, WAIT_TICKS) != 0) return done;
    void *token;
    unsigned int length;
    while (done < count && virtio_get(base, RX_QUEUE, &token, &length) == 1) {
      if (length <= NET_HEADER) return done;
      done++;
      struct virtio_buffer rx = {token, NET_RX_BYTES, 1};
      virtio_add(base, RX_QUEUE, &rx, 1, token);
    }
  }
  return done;
}

static long vsock_tx(long kib) {
  struct vsock_connection c;
  if (vsock_connect(&c, (unsigned int)info(INFO_VSOCK_PORT)) != 0) return -1;
  bench_base = c.base, bench_queue = TX_QUEUE;
  for (unsigned int i = 0; i < sizeof chunk; i++) chunk[i] = (unsigned char)i;
  long bytes = kib * KIB, sent = 0;
  while (sent < bytes) {
    unsigned int length = bytes - sent < VSOCK_PAYLOAD_MAX ? (unsigned int)(bytes - sent) : VSOCK_PAYLOAD_MAX;
    if (vsock_send(&c, chunk, length) != 0) return sent / KIB;
    sent += length;
  }
  vsock_close(&c);
  return kib;
}

static long vsock_rx(long kib) {
  struct vsock_connection c;
  if (vsock_connect(&c, (unsigned int)info(INFO_VSOCK_PORT)) != 0) return -1;
  bench_base = c.base, bench_queue = 0;
  long bytes = kib * KIB, got = 0;
  while (got < bytes) {
    long size = vsock_receive(&c, chunk);
    if (size < 0) return got / KIB;
    got += size;
  }
  vsock_close(&c);
  return kib;
}

static long pio(long count) {
  return sys(SYS_PIO_LOOP, PIO_BENCH_PORT, count);
}

/* TSC ticks per MARKER_INTERVAL_US, measured against the timer over CALIBRATION_TICKS ticks. */
static unsigned long marker_interval(void) {
  unsigned long start = (unsigned long)sys(SYS_TICKS, 0, 0);
  while ((unsigned long)sys(SYS_TICKS, 0, 0) == start) {
  }
  unsigned long tsc0 = rdtsc(), edge = start + 1;
  while ((unsigned long)sys(SYS_TICKS, 0, 0) < edge + CALIBRATION_TICKS) {
  }
  unsigned long per_second = (rdtsc() - tsc0) * info(INFO_TICK_HZ) / CALIBRATION_TICKS;
  return per_second / (US_PER_SECOND / MARKER_INTERVAL_US);
}

/* Never returns: ring 3 only, the TSC read in a loop. The difference (not a deadline) decides, so a
 * TSC that jumped (a restored snapshot) makes the next marker come at once rather than never. */
static void marker(void) {
  unsigned long interval = marker_interval();
  print("# bench marker: every ");
  print_dec(interval);
  print(" TSC ticks\n");
  volatile unsigned int *window = (volatile unsigned int *)BENCH_MARKER_ADDRESS;
  unsigned int count = 0;
  unsigned long last = rdtsc();
  for (;;) {
    unsigned long now = rdtsc();
    if (now - last < interval) {
      __asm__ volatile("pause");
      continue;
    }
    last = now;
    *window = ++count;
  }
}

void bench_main(void) {
  static const char *const names[] = BENCH_NAMES;
  long which = (long)info(INFO_BENCH), count = (long)info(INFO_COUNT), done = -1;
  if (which == BENCH_MARKER) marker();
  unsigned long started = (unsigned long)sys(SYS_TICKS, 0, 0);
  if (which == BENCH_NET_TX) done = net_tx(count);
  if (which == BENCH_NET_RX) done = net_rx(count);
  if (which == BENCH_VSOCK_TX) done = vsock_tx(count);
  if (which == BENCH_VSOCK_RX) done = vsock_rx(count);
  if (which == BENCH_BLK_READ) done = blk(count, VIRTIO_BLK_IN);
  if (which == BENCH_BLK_WRITE) done = blk(count, VIRTIO_BLK_OUT);
  if (which == BENCH_PIO) done = pio(count);
  unsigned long ticks = (unsigned long)sys(SYS_TICKS, 0, 0) - started;
  print("# bench ");
  print(which >= 1 && which < BENCH_COUNT ? names[which] : "unknown");
  print(": ");
  if (done < 0) {
    print("no device\n");
  } else {
    print_dec((unsigned long)done);
    print(" of ");
    print_dec((unsigned long)count);
    print(" in ");
    print_dec(ticks);
    print(" ticks, depth ");
    print_dec(virtio_depth());
    const struct virtio_queue_stats *stats = bench_base ? virtio_stats(bench_base, bench_queue) : 0;
    if (stats) {
      print(", notifications ");
      print_dec(stats->notified);
      print(" sent ");
      print_dec(stats->suppressed);
      print(" suppressed");
    }
    print("\n");
  }
  sys(SYS_EXIT, done == count ? 0 : 1, 0);
}
