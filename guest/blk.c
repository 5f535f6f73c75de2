/* virtio-blk requests: a 16-byte header (type, reserved, sector), the data, a status byte. */
#include "blk.h"

#define HEADER_BYTES 16
#define SECTOR_OFFSET 8
#define NO_STATUS 0xff

static unsigned char header[HEADER_BYTES] __attribute__((aligned(16)));
static unsigned char status;

int virtio_blk_request(u64 base, unsigned int type, u64 sector, void *data, unsigned int length) {
  for (int i = 0; i < HEADER_BYTES; i++) header[i] = 0;
  header[0] = (unsigned char)type;
  for (int i = 0; i < 8; i++) header[SECTOR_OFFSET + i] = (unsigned char)(sector >> (8 * i));
  status = NO_STATUS;
  struct virtio_buffer chain[3] = {{header, HEADER_BYTES, 0}, {data, length, type == VIRTIO_BLK_IN}, {&status, 1, 1}};
  if (virtio_request(base, 0, chain, 3) < 0) return -1;
  return status;
}
