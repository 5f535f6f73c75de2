/* virtio-blk requests over the polled driver of virtio.c (virtio 1.2, 5.2.6). */
#ifndef GUEST_BLK_H
#define GUEST_BLK_H

#include "virtio.h"

#define VIRTIO_BLK_IN 0
#define VIRTIO_BLK_OUT 1
#define VIRTIO_BLK_SECTOR_BYTES 512

/* One request on a started device's queue 0: `length` bytes at `sector` read into or written from
 * `data`. Returns the device's status (0 = ok), or -1 when no answer comes. */
int virtio_blk_request(u64 base, unsigned int type, u64 sector, void *data, unsigned int length);

#endif
