/* The device checks of probe.h, over the driver of virtio.c. */
#include "probe.h"
#include "arena.h"
#include "blk.h"
#include "ulib.h"

#define NET_HEADER 12
#define ETH_ARP_BYTES 60
#define NET_RX_BYTES 2048
#define RX_QUEUE 0
#define TX_QUEUE 1
#define ARP_WAIT_TICKS 100
#define ARP_ATTEMPTS 8
#define WAIT_TICKS 200
#define NET_FEATURES (1u << 5) /* VIRTIO_NET_F_MAC */

static unsigned char net_tx[NET_HEADER + ETH_ARP_BYTES] __attribute__((aligned(16)));
static unsigned char *net_rx[VIRTIO_DEPTH_MAX];

/* Reaps used chains of one queue until `expected` came back (or none comes); calls `done` on each. */
static long reap(u64 base, int queue, long expected, void (*done)(void *token, unsigned int length, long *ok), long *ok) {
  long back = 0;
  while (back < expected) {
    void *token;
    unsigned int length;
    int got = virtio_get(base, queue, &token, &length);
    if (got < 0) return back;
    if (got == 0) {
      if (virtio_wait_used(base, queue, WAIT_TICKS) != 0) return back;
      continue;
    }
    back++;
    done(token, length, ok);
  }
  return back;
}

static unsigned int rng_bytes;

static void rng_done(void *token, unsigned int length, long *ok) {
  (void)token;
  if (length == rng_bytes) (*ok)++;
}

long probe_rng(unsigned char *into, unsigned int bytes, unsigned int chains) {
  u64 base = virtio_find(VIRTIO_ID_ENTROPY);
  if (!base || virtio_start(base, 1, 0) != 0) return -1;
  if (chains > virtio_queue_size(base, 0)) chains = virtio_queue_size(base, 0);
  rng_bytes = bytes;
  for (unsigned int i = 0; i < chains; i++) {
    struct virtio_buffer b = {into + i * bytes, bytes, 1};
    virtio_add(base, 0, &b, 1, into + i * bytes);
  }
  long ok = 0;
  reap(base, 0, chains, rng_done, &ok);
  return ok;
}

static unsigned char *blk_into;
static u64 blk_first;

static u64 blk_sector(long i) { return blk_first + (u64)i; }
static void *blk_sector_buffer(long i, unsigned int slot) {
  (void)slot;
  return blk_into + i * VIRTIO_BLK_SECTOR_BYTES;
}

static long blk_sectors(unsigned int type, unsigned char *buffer, u64 first, unsigned int count, unsigned int depth) {
  u64 base = virtio_find(VIRTIO_ID_BLOCK);
  if (!base || virtio_start(base, 1, VIRTIO_BLK_FEATURES) != 0) return -1;
  blk_into = buffer, blk_first = first;
  return virtio_blk_requests(base, type, count, depth, VIRTIO_BLK_SECTOR_BYTES, blk_sector, blk_sector_buffer);
}

long probe_blk_read(unsigned char *into, u64 first, unsigned int count, unsigned int depth) {
  return blk_sectors(VIRTIO_BLK_IN, into, first, count, depth);
}

long probe_blk_write(unsigned char *from, u64 first, unsigned int count, unsigned int depth) {
  return blk_sectors(VIRTIO_BLK_OUT, from, first, count, depth);
}

static void put_ip(unsigned char *at, u64 ip) {
  for (int i = 0; i < 4; i++) at[i] = (unsigned char)(ip >> (24 - 8 * i));
}

static int is_arp_reply_from(const unsigned char *frame, u64 peer) {
  unsigned char sender[4];
  put_ip(sender, peer);
  int ok = frame[12] == 0x08 && frame[13] == 0x06 && frame[21] == 2;
  for (int i = 0; i < 4; i++) ok = ok && frame[28 + i] == sender[i];
  return ok;
}

static void offer_rx(u64 base, unsigned char *buffer) {
  struct virtio_buffer rx = {buffer, NET_RX_BYTES, 1};
  virtio_add(base, RX_QUEUE, &rx, 1, buffer);
}

int probe_arp(unsigned int depth) {
  u64 base = virtio_find(VIRTIO_ID_NET), ip = info(INFO_NET_IP), peer = info(INFO_NET_PEER);
  if (!base || !ip || !peer || virtio_start(base, 2, NET_FEATURES) != 0) return -1;
  if (depth > virtio_queue_size(base, RX_QUEUE)) depth = virtio_queue_size(base, RX_QUEUE);
  unsigned char mac[6];
  for (int i = 0; i < 6; i++) mac[i] = virtio_config_byte(base, (unsigned int)i);
  unsigned char *frame = net_tx + NET_HEADER;
  for (unsigned int i = 0; i < sizeof net_tx; i++) net_tx[i] = 0;
  for (int i = 0; i < 6; i++) frame[i] = 0xff, frame[6 + i] = mac[i], frame[22 + i] = mac[i];
  frame[12] = 0x08, frame[13] = 0x06;                                           /* ARP */
  frame[15] = 1, frame[16] = 0x08, frame[18] = 6, frame[19] = 4, frame[21] = 1; /* Ethernet/IPv4 request */
  put_ip(frame + 28, ip);
  put_ip(frame + 38, peer);
  for (unsigned int i = 0; i < depth; i++) {
    if (!net_rx[i] && !(net_rx[i] = arena_alloc(NET_RX_BYTES, 16))) return -1;
    offer_rx(base, net_rx[i]);
  }
  virtio_kick(base, RX_QUEUE);
  struct virtio_buffer tx = {net_tx, sizeof net_tx, 0};
  if (virtio_request(base, TX_QUEUE, &tx, 1) < 0) return 0;
  for (int attempt = 0; attempt < ARP_ATTEMPTS; attempt++) {
    if (virtio_wait_used(base, RX_QUEUE, ARP_WAIT_TICKS) != 0) return 0;
    void *token;
    unsigned int length;
    while (virtio_get(base, RX_QUEUE, &token, &length) == 1) {
      if (length > NET_HEADER && is_arp_reply_from((unsigned char *)token + NET_HEADER, peer)) return 1;
      offer_rx(base, token); /* some other frame: listen again */
    }
  }
  return 0;
}
