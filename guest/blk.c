/* virtio-blk requests: a 16-byte header (type, reserved, sector), the data, a status byte. */
#include "blk.h"

#define SECTOR_OFFSET 8
#define NO_STATUS 0xff
#define WAIT_TICKS 200

int virtio_blk_add(u64 base, struct blk_request *request, unsigned int type, u64 sector, void *data, unsigned int length) {
  for (unsigned int i = 0; i < sizeof request->header; i++) request->header[i] = 0;
  request->header[0] = (unsigned char)type;
  for (int i = 0; i < 8; i++) request->header[SECTOR_OFFSET + i] = (unsigned char)(sector >> (8 * i));
  request->status = NO_STATUS;
  struct virtio_buffer chain[VIRTIO_BLK_CHAIN] = {
      {request->header, sizeof request->header, 0}, {data, length, type == VIRTIO_BLK_IN}, {&request->status, 1, 1}};
  return virtio_add(base, 0, chain, VIRTIO_BLK_CHAIN, request);
}

static struct blk_request slots[VIRTIO_DEPTH_MAX];

long virtio_blk_requests(u64 base, unsigned int type, long count, unsigned int depth, unsigned int length,
                         u64 (*sector_of)(long i), void *(*data_for)(long i, unsigned int slot)) {
  unsigned int room = virtio_queue_size(base, 0) / VIRTIO_BLK_CHAIN;
  if (depth > room) depth = room;
  if (depth > VIRTIO_DEPTH_MAX) depth = VIRTIO_DEPTH_MAX;
  struct blk_request *free_slots[VIRTIO_DEPTH_MAX];
  unsigned int free_count = depth;
  for (unsigned int i = 0; i < depth; i++) free_slots[i] = &slots[i];
  long issued = 0, done = 0;
  while (done < count) {
    for (; issued < count && free_count > 0; issued++) {
      struct blk_request *r = free_slots[--free_count];
      virtio_blk_add(base, r, type, sector_of(issued), data_for(issued, (unsigned int)(r - slots)), length);
    }
    if (virtio_wait_used(base, 0, WAIT_TICKS) != 0) return done;
    void *token;
    unsigned int used;
    int got;
    while ((got = virtio_get(base, 0, &token, &used)) == 1) {
      struct blk_request *r = token;
      if (r->status != 0) return done;
      free_slots[free_count++] = r;
      done++;
    }
    if (got < 0) return done;
  }
  return done;
}

int virtio_blk_request(u64 base, unsigned int type, u64 sector, void *data, unsigned int length) {
  static struct blk_request request;
  if (virtio_blk_add(base, &request, type, sector, data, length) != 0 || virtio_wait(base, 0, WAIT_TICKS) < 0) return -1;
  return request.status;
}
