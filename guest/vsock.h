/* A ring-3 virtio-vsock client: stream connections to host ports (CID 2), polled, one at a time,
 * with up to nodevmm.depth packets in flight each way. */
#ifndef GUEST_VSOCK_H
#define GUEST_VSOCK_H

typedef unsigned long u64;

#define VSOCK_PAYLOAD_MAX 4096

struct vsock_connection {
  u64 base, cid;
  unsigned int local_port, peer_port;
  /* Credit (virtio 1.2, 5.10.6.3): what we consumed, sent, and what the peer has room for. */
  unsigned int fwd_cnt, advertised_fwd_cnt, tx_cnt, peer_buf_alloc, peer_fwd_cnt;
  /* Receive buffers posted and transmit buffers this connection uses. */
  unsigned int depth;
  /* The received packet being looked at, and its used length. */
  unsigned char *packet;
  long packet_bytes;
};

/* Connects to host port `port`: 0, or -1 no device, -2 no answer, -3 refused (RST). */
int vsock_connect(struct vsock_connection *c, unsigned int port);
/* Queues up to VSOCK_PAYLOAD_MAX bytes once the peer has room (the data is copied; up to `depth`
 * packets stay in flight): 0, or -2 no answer, -4 closed. */
int vsock_send(struct vsock_connection *c, const unsigned char *data, unsigned int length);
/* The next payload bytes (at most VSOCK_PAYLOAD_MAX) into `into`: their count, or -2 no answer,
 * -4 closed by the peer. */
long vsock_receive(struct vsock_connection *c, unsigned char *into);
/* Sends a shutdown and waits until every queued packet has left. */
void vsock_close(struct vsock_connection *c);

/* Connects to `port`, sends `length` bytes (at most VSOCK_PAYLOAD_MAX) in packets of at most
 * `piece` bytes and reads back as many into `reply` (the host side echoes): the bytes read back,
 * or a negative code as above. */
long vsock_echo(unsigned int port, const unsigned char *data, unsigned int length, unsigned int piece, unsigned char *reply);

#endif
