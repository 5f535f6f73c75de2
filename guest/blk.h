/* virtio-blk requests over the driver of virtio.c (virtio 1.2, 5.2.6). */
#ifndef GUEST_BLK_H
#define GUEST_BLK_H

#include "virtio.h"

#define VIRTIO_BLK_IN 0
#define VIRTIO_BLK_OUT 1
#define VIRTIO_BLK_SECTOR_BYTES 512
/* Descriptors per request: header, data, status. */
#define VIRTIO_BLK_CHAIN 3
/* VIRTIO_BLK_F_FLUSH: accepted where offered, as Linux does (QEMU otherwise turns its write cache off). */
#define VIRTIO_BLK_FEATURES (1u << 9)

/* One request's header and status byte; the request itself is virtio_get's token. */
struct blk_request {
  unsigned char header[16];
  unsigned char status;
} __attribute__((aligned(16)));

/* Adds a request on queue 0 of a started device: `length` bytes at `sector` read into or written
 * from `data`. Does not notify. Returns 0, or -1 when the queue is full. */
int virtio_blk_add(u64 base, struct blk_request *request, unsigned int type, u64 sector, void *data, unsigned int length);
/* `count` requests of `length` bytes on queue 0, up to `depth` in flight (at most VIRTIO_DEPTH_MAX;
 * request slots recycled as the device completes them, in any order, the device notified once per
 * refill): request i goes to sector_of(i) from or into data_for(i, slot), slot < depth. Returns how
 * many completed ok before the first that failed or did not come back. */
long virtio_blk_requests(u64 base, unsigned int type, long count, unsigned int depth, unsigned int length,
                         u64 (*sector_of)(long i), void *(*data_for)(long i, unsigned int slot));
/* One request, waited for, on a queue with nothing else in flight: the device's status (0 = ok),
 * or -1 when no answer comes. */
int virtio_blk_request(u64 base, unsigned int type, u64 sector, void *data, unsigned int length);

#endif
