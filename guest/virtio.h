/* A virtio-mmio (version 2) driver for ring-3 programs: split queues that keep several chains in
 * flight, used rings polled (the driver asks for no interrupts), and notification suppression both
 * ways: VIRTIO_F_EVENT_IDX where the device offers it, else the ring flags. Device windows are mapped
 * for ring 3 by the kernel; queue memory comes from the arena. */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

typedef unsigned long u64;

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_MAX_QUEUES 2
#define VIRTIO_ID_ENTROPY 4
#define VIRTIO_ID_VSOCK 19
/* The most chains a program keeps in flight on one queue (nodevmm.depth is clamped to it). */
#define VIRTIO_DEPTH_MAX 64

struct virtio_buffer {
  void *data;
  unsigned int length;
  int writable;
};

/* Notifications a queue sent to the device and the ones it said it did not need. */
struct virtio_queue_stats {
  unsigned long notified, suppressed;
};

/* The MMIO base of the first device with this id among the command line's, or 0. */
u64 virtio_find(unsigned int device_id);
/* Resets the device, negotiates VERSION_1, VIRTIO_F_EVENT_IDX and those of `features` (feature bits
 * 0-31) the device offers, and sets up its first `queues` queues; returns 0 or a negative step number. */
int virtio_start(u64 base, int queues, unsigned int features);
/* nodevmm.depth=N, clamped to 1..VIRTIO_DEPTH_MAX (1 when not given). */
unsigned int virtio_depth(void);
/* How many descriptors the queue has (chains of k buffers: at most size / k in flight). */
unsigned int virtio_queue_size(u64 base, int queue);
/* Makes one chain available (without notifying); `token` (not 0) comes back from virtio_get.
 * Returns 0, or -1 when the queue has too few free descriptors. */
int virtio_add(u64 base, int queue, const struct virtio_buffer *buffers, int count, void *token);
/* Notifies the device of the chains added since the last call, unless it suppressed notifications. */
void virtio_kick(u64 base, int queue);
/* Takes the next used chain: 1 with its token and used length, 0 when none is there, -1 when the
 * device returned a chain that was not in flight. Reap in a loop until 0: a batch. */
int virtio_get(u64 base, int queue, void **token, unsigned int *length);
/* Kicks what was added, then polls until a used chain is there: 0, or -1 after `timeout_ticks`. */
int virtio_wait_used(u64 base, int queue, long timeout_ticks);
/* virtio_add + virtio_kick. */
int virtio_offer(u64 base, int queue, const struct virtio_buffer *buffers, int count);
/* virtio_wait_used + virtio_get: the used length of the next used chain, or -1. */
long virtio_wait(u64 base, int queue, long timeout_ticks);
/* virtio_offer + virtio_wait (2 s), on a queue with nothing else in flight. */
long virtio_request(u64 base, int queue, const struct virtio_buffer *buffers, int count);
/* A byte of the device's config space. */
unsigned char virtio_config_byte(u64 base, unsigned int offset);
const struct virtio_queue_stats *virtio_stats(u64 base, int queue);

#endif
