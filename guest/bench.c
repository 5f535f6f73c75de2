/* The guest half of bench/blk, bench/net and bench/vsock, in ring 3: moves nodevmm.count units
 * through one device as fast as the polled driver goes (one chain in flight per queue), then reports
 * and exits.
 *   blk-read  N 64 KiB reads                     blk-write N 64 KiB writes   (cycling over 1 MiB)
 *   net-tx    N frames of 1514 bytes sent        net-rx    N frames received
 *   vsock-tx  N KiB sent to host port P          vsock-rx  N KiB received from host port P
 * (P = nodevmm.vsock). The host times the whole VM at two counts, so boot cancels out. */
#include "bench.h"
#include "blk.h"
#include "ulib.h"
#include "virtio.h"
#include "vsock.h"

#define NET_HEADER 12
#define FRAME_BYTES 1514
#define RX_QUEUE 0
#define TX_QUEUE 1
#define NET_WAIT_TICKS 500
#define KIB 1024
#define BLK_REQUEST_BYTES (64 * KIB)
#define BLK_WINDOW_REQUESTS 16

static unsigned char frame[NET_HEADER + FRAME_BYTES] __attribute__((aligned(16)));
static unsigned char buffer[NET_HEADER + 2048] __attribute__((aligned(16)));
static unsigned char chunk[VSOCK_PAYLOAD_MAX] __attribute__((aligned(16)));
static unsigned char blk_data[BLK_REQUEST_BYTES] NOINIT __attribute__((aligned(4096)));

static long blk(long count, unsigned int type) {
  u64 base = virtio_find(VIRTIO_ID_BLOCK);
  if (!base || virtio_start(base, 1) != 0) return -1;
  for (long i = 0; i < count; i++) {
    u64 sector = (u64)(i % BLK_WINDOW_REQUESTS) * (BLK_REQUEST_BYTES / VIRTIO_BLK_SECTOR_BYTES);
    if (virtio_blk_request(base, type, sector, blk_data, BLK_REQUEST_BYTES) != 0) return i;
  }
  return count;
}

static long net_tx(long count) {
  u64 base = virtio_find(VIRTIO_ID_NET);
  if (!base || virtio_start(base, 2) != 0) return -1;
  for (int i = 0; i < 6; i++) frame[NET_HEADER + i] = 0xff;                 /* broadcast */
  for (int i = 0; i < 6; i++) frame[NET_HEADER + 6 + i] = (unsigned char)(i == 0 ? 0x02 : i);
  frame[NET_HEADER + 12] = 0x88, frame[NET_HEADER + 13] = 0xb5;             /* local experimental ethertype */
  struct virtio_buffer tx = {frame, sizeof frame, 0};
  for (long i = 0; i < count; i++)
    if (virtio_request(base, TX_QUEUE, &tx, 1) < 0) return i;
  return count;
}

static long net_rx(long count) {
  u64 base = virtio_find(VIRTIO_ID_NET);
  if (!base || virtio_start(base, 2) != 0) return -1;
  struct virtio_buffer rx = {buffer, sizeof buffer, 1};
  for (long i = 0; i < count; i++) {
    virtio_offer(base, RX_QUEUE, &rx, 1);
    if (virtio_wait(base, RX_QUEUE, NET_WAIT_TICKS) <= NET_HEADER) return i;
  }
  return count;
}

static long vsock_tx(long kib) {
  struct vsock_connection c;
  if (vsock_connect(&c, (unsigned int)info(INFO_VSOCK_PORT)) != 0) return -1;
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
  long bytes = kib * KIB, got = 0;
  while (got < bytes) {
    long size = vsock_receive(&c, chunk);
    if (size < 0) return got / KIB;
    got += size;
  }
  vsock_close(&c);
  return kib;
}

void bench_main(void) {
  static const char *const names[] = {"none", "net-tx", "net-rx", "vsock-tx", "vsock-rx", "blk-read", "blk-write"};
  long which = (long)info(INFO_BENCH), count = (long)info(INFO_COUNT), done = -1;
  unsigned long started = (unsigned long)sys(SYS_TICKS, 0, 0);
  if (which == BENCH_NET_TX) done = net_tx(count);
  if (which == BENCH_NET_RX) done = net_rx(count);
  if (which == BENCH_VSOCK_TX) done = vsock_tx(count);
  if (which == BENCH_VSOCK_RX) done = vsock_rx(count);
  if (which == BENCH_BLK_READ) done = blk(count, VIRTIO_BLK_IN);
  if (which == BENCH_BLK_WRITE) done = blk(count, VIRTIO_BLK_OUT);
  unsigned long ticks = (unsigned long)sys(SYS_TICKS, 0, 0) - started;
  print("# bench ");
  print(which >= 1 && which <= BENCH_BLK_WRITE ? names[which] : "unknown");
  print(": ");
  if (done < 0) {
    print("no device\n");
  } else {
    print_dec((unsigned long)done);
    print(" of ");
    print_dec((unsigned long)count);
    print(" in ");
    print_dec(ticks);
    print(" ticks\n");
  }
  sys(SYS_EXIT, done == count ? 0 : 1, 0);
}
