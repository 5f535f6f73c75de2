/* A minimal virtio-mmio (version 2) driver for ring-3 programs: one split queue per device, requests
 * polled to completion. Device windows are mapped for ring 3 by the kernel. */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

typedef unsigned long u64;

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_MAX_QUEUES 2
#define VIRTIO_ID_ENTROPY 4
#define VIRTIO_ID_VSOCK 19

struct virtio_buffer {
  void *data;
  unsigned int length;
  int writable;
};

/* The MMIO base of the first device with this id among the command line's, or 0. */
u64 virtio_find(unsigned int device_id);
/* Resets the device, negotiates VERSION_1 and sets up its first `queues` queues; returns 0 or a
 * negative step number. */
int virtio_start(u64 base, int queues);
/* Offers one chain on `queue` (one outstanding chain per queue) and notifies. */
int virtio_offer(u64 base, int queue, const struct virtio_buffer *buffers, int count);
/* Waits for the offered chain to come back; returns its used length, or -1 after `timeout_ticks`. */
long virtio_wait(u64 base, int queue, long timeout_ticks);
/* virtio_offer + virtio_wait (2 s). */
long virtio_request(u64 base, int queue, const struct virtio_buffer *buffers, int count);
/* A byte of the device's config space. */
unsigned char virtio_config_byte(u64 base, unsigned int offset);

#endif
