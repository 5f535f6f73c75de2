/* Ring-3 virtio-vsock (virtio 1.2, 5.10) client over the driver of virtio.c. Packets are a 44-byte
 * little-endian header and a payload. `depth` receive buffers stay posted while connected (each one
 * offered again once read, the device told at the next wait); packets to send are copied into one of
 * `depth` transmit buffers and left in flight, the buffers reaped in batches when one is needed.
 * Every packet from the peer updates its credit, and we tell it ours once half our window is used. */
#include "vsock.h"
#include "arena.h"
#include "virtio.h"

#define RX_QUEUE 0
#define TX_QUEUE 1
#define HEADER_BYTES 44
#define PACKET_BYTES (HEADER_BYTES + VSOCK_PAYLOAD_MAX)
#define HOST_CID 2
#define TYPE_STREAM 1
#define OP_REQUEST 1
#define OP_RESPONSE 2
#define OP_RST 3
#define OP_SHUTDOWN 4
#define OP_RW 5
#define OP_CREDIT_UPDATE 6
#define OP_CREDIT_REQUEST 7
#define SHUTDOWN_BOTH 3
#define BUF_ALLOC (64 * 1024)
#define FIRST_LOCAL_PORT 1024
#define WAIT_TICKS 300
#define OFFSET_SRC_CID 0
#define OFFSET_DST_CID 8
#define OFFSET_SRC_PORT 16
#define OFFSET_DST_PORT 20
#define OFFSET_LEN 24
#define OFFSET_TYPE 28
#define OFFSET_OP 30
#define OFFSET_FLAGS 32
#define OFFSET_BUF_ALLOC 36
#define OFFSET_FWD_CNT 40

static unsigned char *rx_pool[VIRTIO_DEPTH_MAX], *tx_pool[VIRTIO_DEPTH_MAX];
static unsigned char *tx_free[VIRTIO_DEPTH_MAX];
static unsigned int pool_size, tx_free_count;
static unsigned int next_local_port = FIRST_LOCAL_PORT;

static void put(unsigned char *at, u64 value, int bytes) {
  for (int i = 0; i < bytes; i++) at[i] = (unsigned char)(value >> (8 * i));
}

static u64 get(const unsigned char *at, int bytes) {
  u64 value = 0;
  for (int i = bytes - 1; i >= 0; i--) value = (value << 8) | at[i];
  return value;
}

/* Packet buffers for `depth` in flight each way, from the arena the first time. */
static int allocate_pools(unsigned int depth) {
  for (; pool_size < depth; pool_size++) {
    rx_pool[pool_size] = arena_alloc(PACKET_BYTES, 16);
    tx_pool[pool_size] = arena_alloc(PACKET_BYTES, 16);
    if (!rx_pool[pool_size] || !tx_pool[pool_size]) return -1;
  }
  return 0;
}

static void offer_receive(struct vsock_connection *c, unsigned char *buffer) {
  struct virtio_buffer b = {buffer, PACKET_BYTES, 1};
  virtio_add(c->base, RX_QUEUE, &b, 1, buffer);
}

/* Takes back every transmit buffer the device is done with. */
static void reap_transmitted(struct vsock_connection *c) {
  void *token;
  unsigned int length;
  while (virtio_get(c->base, TX_QUEUE, &token, &length) == 1) tx_free[tx_free_count++] = token;
}

/* A free transmit buffer, waiting for one if all are in flight; 0 when none comes back. */
static unsigned char *transmit_buffer(struct vsock_connection *c) {
  reap_transmitted(c);
  while (tx_free_count == 0) {
    if (virtio_wait_used(c->base, TX_QUEUE, WAIT_TICKS) != 0) return 0;
    reap_transmitted(c);
  }
  return tx_free[--tx_free_count];
}

static int transmit(struct vsock_connection *c, unsigned int op, unsigned int flags, const unsigned char *data, unsigned int length) {
  unsigned char *packet = transmit_buffer(c);
  if (!packet) return -2;
  for (int i = 0; i < HEADER_BYTES; i++) packet[i] = 0;
  put(packet + OFFSET_SRC_CID, c->cid, 8);
  put(packet + OFFSET_DST_CID, HOST_CID, 8);
  put(packet + OFFSET_SRC_PORT, c->local_port, 4);
  put(packet + OFFSET_DST_PORT, c->peer_port, 4);
  put(packet + OFFSET_LEN, length, 4);
  put(packet + OFFSET_TYPE, TYPE_STREAM, 2);
  put(packet + OFFSET_OP, op, 2);
  put(packet + OFFSET_FLAGS, flags, 4);
  put(packet + OFFSET_BUF_ALLOC, BUF_ALLOC, 4);
  put(packet + OFFSET_FWD_CNT, c->fwd_cnt, 4);
  c->advertised_fwd_cnt = c->fwd_cnt;
  for (unsigned int i = 0; i < length; i++) packet[HEADER_BYTES + i] = data[i];
  struct virtio_buffer buffer = {packet, HEADER_BYTES + length, 0};
  virtio_add(c->base, TX_QUEUE, &buffer, 1, packet);
  virtio_kick(c->base, TX_QUEUE);
  return 0;
}

/* Gives the packet being looked at back to the device as a receive buffer. */
static void release_packet(struct vsock_connection *c) {
  if (c->packet) offer_receive(c, c->packet);
  c->packet = 0;
}

/* Waits for the next packet of this connection (others are dropped) and returns its op, or -1 when
 * none comes. The packet is c->packet until release_packet(). */
static long next_packet(struct vsock_connection *c) {
  for (;;) {
    release_packet(c);
    void *token;
    unsigned int used;
    int got = virtio_get(c->base, RX_QUEUE, &token, &used);
    if (got == 0) {
      if (virtio_wait_used(c->base, RX_QUEUE, WAIT_TICKS) != 0) return -1;
      continue;
    }
    if (got < 0) return -1;
    c->packet = token;
    c->packet_bytes = used;
    if (used < HEADER_BYTES || used > PACKET_BYTES) return -1;
    if (get(c->packet + OFFSET_DST_PORT, 4) == c->local_port && get(c->packet + OFFSET_SRC_PORT, 4) == c->peer_port) {
      c->peer_buf_alloc = (unsigned int)get(c->packet + OFFSET_BUF_ALLOC, 4);
      c->peer_fwd_cnt = (unsigned int)get(c->packet + OFFSET_FWD_CNT, 4);
      long op = (long)get(c->packet + OFFSET_OP, 2);
      if (op == OP_CREDIT_REQUEST) transmit(c, OP_CREDIT_UPDATE, 0, 0, 0);
      return op;
    }
  }
}

int vsock_connect(struct vsock_connection *c, unsigned int port) {
  struct vsock_connection fresh = {virtio_find(VIRTIO_ID_VSOCK), 0, next_local_port++, port, 0, 0, 0, 0, 0, 0, 0, 0};
  *c = fresh;
  if (!c->base || virtio_start(c->base, 2, 0) != 0) return -1;
  unsigned int depth = virtio_depth(), size = virtio_queue_size(c->base, RX_QUEUE);
  c->depth = depth < size ? depth : size;
  if (allocate_pools(c->depth) != 0) return -1;
  for (int i = 7; i >= 0; i--) c->cid = (c->cid << 8) | virtio_config_byte(c->base, (unsigned int)i);
  for (unsigned int i = 0; i < c->depth; i++) {
    offer_receive(c, rx_pool[i]);
    tx_free[i] = tx_pool[i];
  }
  tx_free_count = c->depth;
  virtio_kick(c->base, RX_QUEUE);
  if (transmit(c, OP_REQUEST, 0, 0, 0) < 0) return -2;
  long op = next_packet(c);
  release_packet(c);
  return op == OP_RESPONSE ? 0 : op == OP_RST ? -3 : -2;
}

/* What the peer still has room for; 0 if it shrank its buffer below what is in flight. */
static unsigned int peer_credit(const struct vsock_connection *c) {
  unsigned int in_flight = c->tx_cnt - c->peer_fwd_cnt;
  return in_flight > c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

int vsock_send(struct vsock_connection *c, const unsigned char *data, unsigned int length) {
  if (length > VSOCK_PAYLOAD_MAX) return -2;
  while (peer_credit(c) < length) {
    long op = next_packet(c); /* a credit update, we hope */
    /* This client moves data one way at a time: payload arriving while it sends is counted as
     * consumed (so the peer's view of our buffer stays right) and dropped. */
    if (op == OP_RW) c->fwd_cnt += (unsigned int)get(c->packet + OFFSET_LEN, 4);
    release_packet(c);
    if (op < 0) return -2;
    if (op == OP_RST || op == OP_SHUTDOWN) return -4;
  }
  if (transmit(c, OP_RW, 0, data, length) < 0) return -2;
  c->tx_cnt += length;
  return 0;
}

long vsock_receive(struct vsock_connection *c, unsigned char *into) {
  for (;;) {
    long op = next_packet(c);
    if (op < 0) return -2;
    if (op == OP_RST || op == OP_SHUTDOWN) {
      release_packet(c);
      return -4;
    }
    if (op != OP_RW) continue;
    unsigned int size = (unsigned int)get(c->packet + OFFSET_LEN, 4);
    if (size > c->packet_bytes - HEADER_BYTES) size = (unsigned int)(c->packet_bytes - HEADER_BYTES);
    for (unsigned int i = 0; i < size; i++) into[i] = c->packet[HEADER_BYTES + i];
    release_packet(c);
    c->fwd_cnt += size;
    if (c->fwd_cnt - c->advertised_fwd_cnt >= BUF_ALLOC / 2) transmit(c, OP_CREDIT_UPDATE, 0, 0, 0);
    return size;
  }
}

void vsock_close(struct vsock_connection *c) {
  transmit(c, OP_SHUTDOWN, SHUTDOWN_BOTH, 0, 0);
  reap_transmitted(c);
  while (tx_free_count < c->depth && virtio_wait_used(c->base, TX_QUEUE, WAIT_TICKS) == 0) reap_transmitted(c);
}

long vsock_echo(unsigned int port, const unsigned char *data, unsigned int length, unsigned int piece, unsigned char *reply) {
  static unsigned char part[VSOCK_PAYLOAD_MAX];
  struct vsock_connection c;
  int status = vsock_connect(&c, port);
  if (status < 0) return status;
  if (piece < 1 || piece > VSOCK_PAYLOAD_MAX) piece = VSOCK_PAYLOAD_MAX;
  for (unsigned int sent = 0; sent < length; sent += piece) {
    if ((status = vsock_send(&c, data + sent, length - sent < piece ? length - sent : piece)) < 0) return status;
  }
  unsigned int got = 0;
  while (got < length) {
    long size = vsock_receive(&c, part);
    if (size < 0) return size;
    for (long i = 0; i < size && got < length; i++) reply[got++] = part[i];
  }
  vsock_close(&c);
  return got;
}
