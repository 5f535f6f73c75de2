/* Ring-3 virtio-mmio driver: see virtio.h. All rings live in this program's static memory, which the
 * identity mapping makes guest-physical as is. */
#include "virtio.h"
#include "ulib.h"

#define QUEUE_SIZE 8
#define REG_MAGIC 0x000
#define REG_VERSION 0x004
#define REG_DEVICE_ID 0x008
#define REG_DRIVER_FEATURES 0x020
#define REG_DRIVER_FEATURES_SEL 0x024
#define REG_QUEUE_SEL 0x030
#define REG_QUEUE_NUM_MAX 0x034
#define REG_QUEUE_NUM 0x038
#define REG_QUEUE_READY 0x044
#define REG_QUEUE_NOTIFY 0x050
#define REG_STATUS 0x070
#define REG_QUEUE_DESC 0x080
#define REG_QUEUE_DRIVER 0x090
#define REG_QUEUE_DEVICE 0x0a0
#define MAGIC 0x74726976
#define STATUS_ACK 1
#define STATUS_DRIVER 2
#define STATUS_DRIVER_OK 4
#define STATUS_FEATURES_OK 8
#define DESC_NEXT 1
#define DESC_WRITE 2
#define AVAIL_NO_INTERRUPT 1
/* Polls of the used ring between two looks at the clock: a system call is a trip through ring 0,
 * which nested-PVM hosts emulate instruction by instruction. */
#define POLLS_PER_CLOCK_CHECK 4096
#define FEATURE_VERSION_1_HIGH 1 /* bit 32 */
#define TIMEOUT_TICKS 200
#define MAX_DEVICES 8
#define REG_CONFIG 0x100

struct desc {
  u64 addr;
  unsigned int len;
  unsigned short flags, next;
};

struct queue {
  struct desc desc[QUEUE_SIZE] __attribute__((aligned(16)));
  struct {
    unsigned short flags, idx, ring[QUEUE_SIZE], used_event;
  } avail __attribute__((aligned(2)));
  struct {
    unsigned short flags;
    volatile unsigned short idx;
    struct {
      unsigned int id, len;
    } ring[QUEUE_SIZE];
    unsigned short avail_event;
  } used __attribute__((aligned(4)));
  unsigned short next_avail;
};

static struct device {
  u64 base;
  struct queue queues[VIRTIO_MAX_QUEUES];
} devices[MAX_DEVICES];

static unsigned int rd(u64 base, unsigned int reg) { return *(volatile unsigned int *)(base + reg); }
static void wr(u64 base, unsigned int reg, unsigned int value) { *(volatile unsigned int *)(base + reg) = value; }
static void wr64(u64 base, unsigned int reg, u64 value) {
  wr(base, reg, (unsigned int)value);
  wr(base, reg + 4, (unsigned int)(value >> 32));
}

u64 virtio_find(unsigned int device_id) {
  long count = sys(SYS_INFO, INFO_VIRTIO_COUNT, 0);
  for (long i = 0; i < count; i++) {
    u64 base = (u64)sys(SYS_INFO, INFO_VIRTIO_BASE + i, 0);
    if (rd(base, REG_MAGIC) == MAGIC && rd(base, REG_VERSION) == 2 && rd(base, REG_DEVICE_ID) == device_id) return base;
  }
  return 0;
}

static struct device *device_of(u64 base) {
  for (int i = 0; i < MAX_DEVICES; i++)
    if (devices[i].base == base) return &devices[i];
  for (int i = 0; i < MAX_DEVICES; i++)
    if (devices[i].base == 0) {
      devices[i].base = base;
      return &devices[i];
    }
  return 0;
}

int virtio_start(u64 base, int queue_count) {
  struct device *d = device_of(base);
  if (!d || queue_count < 1 || queue_count > VIRTIO_MAX_QUEUES) return -1;
  wr(base, REG_STATUS, 0);
  wr(base, REG_STATUS, STATUS_ACK);
  wr(base, REG_STATUS, STATUS_ACK | STATUS_DRIVER);
  wr(base, REG_DRIVER_FEATURES_SEL, 0);
  wr(base, REG_DRIVER_FEATURES, 0);
  wr(base, REG_DRIVER_FEATURES_SEL, 1);
  wr(base, REG_DRIVER_FEATURES, FEATURE_VERSION_1_HIGH);
  wr(base, REG_STATUS, STATUS_ACK | STATUS_DRIVER | STATUS_FEATURES_OK);
  if (!(rd(base, REG_STATUS) & STATUS_FEATURES_OK)) return -2;
  for (int i = 0; i < queue_count; i++) {
    struct queue *q = &d->queues[i];
    wr(base, REG_QUEUE_SEL, (unsigned int)i);
    if (rd(base, REG_QUEUE_NUM_MAX) < QUEUE_SIZE) return -3;
    wr(base, REG_QUEUE_NUM, QUEUE_SIZE);
    wr64(base, REG_QUEUE_DESC, (u64)q->desc);
    wr64(base, REG_QUEUE_DRIVER, (u64)&q->avail);
    wr64(base, REG_QUEUE_DEVICE, (u64)&q->used);
    q->next_avail = 0;
    q->avail.idx = 0;
    /* The driver polls the used ring, so it asks for no interrupts: each would run the kernel's
     * handler in ring 0 for nothing. */
    q->avail.flags = AVAIL_NO_INTERRUPT;
    wr(base, REG_QUEUE_READY, 1);
  }
  wr(base, REG_STATUS, STATUS_ACK | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
  return 0;
}

static struct queue *queue_at(u64 base, int queue) {
  struct device *d = device_of(base);
  return d && queue >= 0 && queue < VIRTIO_MAX_QUEUES ? &d->queues[queue] : 0;
}

/* Always descriptors 0..count-1: after a wait that timed out the device may still own them, so a
 * caller that gives up on a chain restarts the device (virtio_start) before offering again. */
int virtio_offer(u64 base, int queue, const struct virtio_buffer *buffers, int count) {
  struct queue *q = queue_at(base, queue);
  if (!q || count < 1 || count > QUEUE_SIZE) return -1;
  for (int i = 0; i < count; i++) {
    q->desc[i].addr = (u64)buffers[i].data;
    q->desc[i].len = buffers[i].length;
    q->desc[i].flags = (unsigned short)((buffers[i].writable ? DESC_WRITE : 0) | (i + 1 < count ? DESC_NEXT : 0));
    q->desc[i].next = (unsigned short)(i + 1);
  }
  q->avail.ring[q->next_avail % QUEUE_SIZE] = 0;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  q->avail.idx = ++q->next_avail;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  wr(base, REG_QUEUE_NOTIFY, (unsigned int)queue);
  return 0;
}

long virtio_wait(u64 base, int queue, long timeout_ticks) {
  struct queue *q = queue_at(base, queue);
  if (!q) return -1;
  /* The clock is read only once a wait has lasted a while: a quick completion costs no system call. */
  long deadline = -1;
  for (unsigned int polls = 1; q->used.idx != q->next_avail; polls++) {
    __asm__ volatile("pause");
    if (polls % POLLS_PER_CLOCK_CHECK != 0) continue;
    long now = sys(SYS_TICKS, 0, 0);
    if (deadline < 0) deadline = now + timeout_ticks;
    else if (now > deadline) return -1;
  }
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  return q->used.ring[(unsigned short)(q->next_avail - 1) % QUEUE_SIZE].len;
}

long virtio_request(u64 base, int queue, const struct virtio_buffer *buffers, int count) {
  if (virtio_offer(base, queue, buffers, count) != 0) return -1;
  return virtio_wait(base, queue, TIMEOUT_TICKS);
}

unsigned char virtio_config_byte(u64 base, unsigned int offset) {
  return *(volatile unsigned char *)(base + REG_CONFIG + offset);
}
