/* Device checks shared by the self-test and the shell: each keeps up to `depth` chains in flight. */
#ifndef GUEST_PROBE_H
#define GUEST_PROBE_H

#include "virtio.h"

/* `chains` requests of `bytes` random bytes each from virtio-rng, all in flight at once, into
 * consecutive slices of `into`: how many came back full, or -1 without a device. */
long probe_rng(unsigned char *into, unsigned int bytes, unsigned int chains);
/* Reads sectors first..first+count-1 from virtio-blk, `depth` requests in flight, into `into`
 * (count * 512 bytes): how many read ok, or -1 without a device. */
long probe_blk_read(unsigned char *into, u64 first, unsigned int count, unsigned int depth);
/* Writes count sectors from `from` to virtio-blk at `first`: how many wrote ok, or -1 without a device. */
long probe_blk_write(unsigned char *from, u64 first, unsigned int count, unsigned int depth);
/* Sends an ARP request for nodevmm.peer from nodevmm.ip over virtio-net with `depth` receive buffers
 * posted and waits for the reply: 1 on a reply from the peer, 0 on none, -1 without a device or addresses. */
int probe_arp(unsigned int depth);
#endif
