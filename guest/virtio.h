/* A minimal virtio-mmio (version 2) driver for ring-3 programs: one split queue per device, requests
 * polled to completion. Device windows are mapped for ring 3 by the kernel. */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

typedef unsigned long u64;

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_ENTROPY 4

struct virtio_buffer {
  void *data;
  unsigned int length;
  int writable;
};

/* The MMIO base of the first device with this id among the command line's, or 0. */
u64 virtio_find(unsigned int device_id);
/* Resets the device, negotiates VERSION_1 and sets up queue 0; returns 0 or a negative step number. */
int virtio_start(u64 base);
/* Offers one chain on queue 0, notifies and waits; returns the used length or -1 on timeout. */
long virtio_request(u64 base, const struct virtio_buffer *buffers, int count);

#endif
