/* Ring-3 virtio-mmio driver: see virtio.h. Queue memory is identity-mapped arena RAM, so its
 * addresses are guest-physical as they are. Free descriptors form a list through their `next`
 * fields and a chain takes consecutive entries of it (as Linux's virtio_ring does).
 * Notification suppression (virtio 1.2, 2.7.7 and 2.7.10):
 *   driver -> device: a kick is sent only when the device asked for one: with EVENT_IDX when
 *     avail_event lies among the chains added since the last kick, else unless the used ring's
 *     NO_NOTIFY flag is set;
 *   device -> driver: the driver polls, so it asks for no interrupts at all: without EVENT_IDX the
 *     avail ring's NO_INTERRUPT flag, with it used_event kept half the index space ahead of what
 *     was reaped, where the device's "did used_idx pass used_event" test never holds. */
#include "virtio.h"
#include "arena.h"
#include "ulib.h"

#define QUEUE_SIZE_MAX 256
#define QUEUE_SIZE_MIN 8
#define REG_MAGIC 0x000
#define REG_VERSION 0x004
#define REG_DEVICE_ID 0x008
#define REG_DEVICE_FEATURES 0x010
#define REG_DEVICE_FEATURES_SEL 0x014
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
#define REG_CONFIG 0x100
#define MAGIC 0x74726976
#define STATUS_ACK 1
#define STATUS_DRIVER 2
#define STATUS_DRIVER_OK 4
#define STATUS_FEATURES_OK 8
#define DESC_NEXT 1
#define DESC_WRITE 2
#define AVAIL_NO_INTERRUPT 1
#define USED_NO_NOTIFY 1
#define FEATURE_EVENT_IDX (1u << 29)
#define FEATURE_VERSION_1_HIGH 1 /* bit 32 */
#define FAR_AHEAD 0x8000
/* Polls of the used ring between two looks at the clock: a system call is a trip through ring 0,
 * which nested-PVM hosts emulate instruction by instruction. */
#define POLLS_PER_CLOCK_CHECK 4096
#define TIMEOUT_TICKS 200
#define MAX_DEVICES 8

struct desc {
  u64 addr;
  unsigned int len;
  unsigned short flags, next;
};

struct used_elem {
  unsigned int id, len;
};

struct queue {
  struct desc *desc;
  volatile unsigned short *avail_flags, *avail_idx, *avail_ring, *used_event;
  volatile unsigned short *used_flags, *used_idx, *avail_event;
  volatile struct used_elem *used_ring;
  void **token;
  unsigned char *chain_length; /* per head: descriptors in its chain, 0 when not in flight */
  unsigned short size, free_head, free_count, last_used, next_avail, last_kick;
  int event_idx;
  struct virtio_queue_stats stats;
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

static struct queue *queue_at(u64 base, int queue) {
  struct device *d = device_of(base);
  return d && queue >= 0 && queue < VIRTIO_MAX_QUEUES ? &d->queues[queue] : 0;
}

unsigned int virtio_depth(void) {
  unsigned long depth = info(INFO_DEPTH);
  return depth < 1 ? 1 : depth > VIRTIO_DEPTH_MAX ? VIRTIO_DEPTH_MAX : (unsigned int)depth;
}

/* Rings for QUEUE_SIZE_MAX descriptors, taken from the arena once per queue and reused after resets. */
static int allocate_rings(struct queue *q) {
  if (q->desc) return 0;
  unsigned char *desc = arena_alloc(16 * QUEUE_SIZE_MAX, 4096);
  unsigned char *avail = arena_alloc(2 * (3 + QUEUE_SIZE_MAX), 2);
  unsigned char *used = arena_alloc(4 + 8 * QUEUE_SIZE_MAX + 2, 4096);
  void **token = arena_alloc(sizeof(void *) * QUEUE_SIZE_MAX, 8);
  unsigned char *chain_length = arena_alloc(QUEUE_SIZE_MAX, 1);
  if (!desc || !avail || !used || !token || !chain_length) return -1;
  q->desc = (struct desc *)desc;
  q->avail_flags = (volatile unsigned short *)avail;
  q->avail_idx = q->avail_flags + 1;
  q->avail_ring = q->avail_flags + 2;
  q->used_flags = (volatile unsigned short *)used;
  q->used_idx = q->used_flags + 1;
  q->used_ring = (volatile struct used_elem *)(used + 4);
  q->token = token;
  q->chain_length = chain_length;
  return 0;
}

/* Fresh rings of `size` descriptors, all free, interrupts suppressed. */
static void reset_queue(struct queue *q, unsigned short size, int event_idx) {
  q->size = size;
  q->used_event = q->avail_ring + size;
  q->avail_event = (volatile unsigned short *)(q->used_ring + size);
  for (unsigned short i = 0; i < size; i++) {
    q->desc[i].next = (unsigned short)(i + 1);
    q->chain_length[i] = 0;
  }
  q->free_head = 0;
  q->free_count = size;
  q->last_used = q->next_avail = q->last_kick = 0;
  q->event_idx = event_idx;
  q->stats.notified = q->stats.suppressed = 0;
  *q->avail_idx = 0;
  *q->used_idx = 0;
  *q->used_flags = 0;
  *q->avail_event = 0;
  *q->avail_flags = event_idx ? 0 : AVAIL_NO_INTERRUPT;
  *q->used_event = FAR_AHEAD;
}

int virtio_start(u64 base, int queue_count, unsigned int features) {
  struct device *d = device_of(base);
  if (!d || queue_count < 1 || queue_count > VIRTIO_MAX_QUEUES) return -1;
  wr(base, REG_STATUS, 0);
  wr(base, REG_STATUS, STATUS_ACK);
  wr(base, REG_STATUS, STATUS_ACK | STATUS_DRIVER);
  wr(base, REG_DEVICE_FEATURES_SEL, 0);
  unsigned int accepted = rd(base, REG_DEVICE_FEATURES) & (features | FEATURE_EVENT_IDX);
  wr(base, REG_DRIVER_FEATURES_SEL, 0);
  wr(base, REG_DRIVER_FEATURES, accepted);
  wr(base, REG_DRIVER_FEATURES_SEL, 1);
  wr(base, REG_DRIVER_FEATURES, FEATURE_VERSION_1_HIGH);
  wr(base, REG_STATUS, STATUS_ACK | STATUS_DRIVER | STATUS_FEATURES_OK);
  if (!(rd(base, REG_STATUS) & STATUS_FEATURES_OK)) return -2;
  for (int i = 0; i < queue_count; i++) {
    struct queue *q = &d->queues[i];
    wr(base, REG_QUEUE_SEL, (unsigned int)i);
    unsigned int max = rd(base, REG_QUEUE_NUM_MAX), size = QUEUE_SIZE_MAX;
    while (size > max) size >>= 1;
    if (size < QUEUE_SIZE_MIN || allocate_rings(q) != 0) return -3;
    reset_queue(q, (unsigned short)size, (accepted & FEATURE_EVENT_IDX) != 0);
    wr(base, REG_QUEUE_NUM, size);
    wr64(base, REG_QUEUE_DESC, (u64)q->desc);
    wr64(base, REG_QUEUE_DRIVER, (u64)q->avail_flags);
    wr64(base, REG_QUEUE_DEVICE, (u64)q->used_flags);
    wr(base, REG_QUEUE_READY, 1);
  }
  wr(base, REG_STATUS, STATUS_ACK | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
  return 0;
}

unsigned int virtio_queue_size(u64 base, int queue) {
  struct queue *q = queue_at(base, queue);
  return q ? q->size : 0;
}

int virtio_add(u64 base, int queue, const struct virtio_buffer *buffers, int count, void *token) {
  struct queue *q = queue_at(base, queue);
  if (!q || !token || count < 1 || count > q->free_count) return -1;
  unsigned short head = q->free_head, at = head;
  for (int i = 0; i < count; i++) {
    struct desc *d = &q->desc[at];
    d->addr = (u64)buffers[i].data;
    d->len = buffers[i].length;
    d->flags = (unsigned short)((buffers[i].writable ? DESC_WRITE : 0) | (i + 1 < count ? DESC_NEXT : 0));
    at = d->next; /* a chain follows the free list, so `next` already links it */
  }
  q->free_head = at;
  q->free_count = (unsigned short)(q->free_count - count);
  q->token[head] = token;
  q->chain_length[head] = (unsigned char)count;
  q->avail_ring[q->next_avail & (q->size - 1)] = head;
  __atomic_thread_fence(__ATOMIC_RELEASE); /* the entry before the index that publishes it */
  *q->avail_idx = ++q->next_avail;
  return 0;
}

void virtio_kick(u64 base, int queue) {
  struct queue *q = queue_at(base, queue);
  if (!q || q->last_kick == q->next_avail) return;
  /* The index store must be visible before the device's wish is read (store-load order). */
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  unsigned short old = q->last_kick, new = q->next_avail;
  q->last_kick = new;
  int needed = q->event_idx ? (unsigned short)(new - *q->avail_event - 1) < (unsigned short)(new - old) : !(*q->used_flags & USED_NO_NOTIFY);
  if (!needed) {
    q->stats.suppressed++;
    return;
  }
  q->stats.notified++;
  wr(base, REG_QUEUE_NOTIFY, (unsigned int)queue);
}

int virtio_get(u64 base, int queue, void **token, unsigned int *length) {
  struct queue *q = queue_at(base, queue);
  if (!q || q->last_used == *q->used_idx) return 0;
  __atomic_thread_fence(__ATOMIC_ACQUIRE); /* the index before the entry it covers */
  volatile struct used_elem *e = &q->used_ring[q->last_used & (q->size - 1)];
  unsigned int id = e->id, used = e->len;
  if (id >= q->size || q->chain_length[id] == 0) return -1;
  unsigned short last = (unsigned short)id;
  for (unsigned char i = 1; i < q->chain_length[id]; i++) last = q->desc[last].next;
  q->desc[last].next = q->free_head;
  q->free_head = (unsigned short)id;
  q->free_count = (unsigned short)(q->free_count + q->chain_length[id]);
  q->chain_length[id] = 0;
  q->last_used++;
  if (q->event_idx) *q->used_event = (unsigned short)(q->last_used + FAR_AHEAD);
  *token = q->token[id];
  *length = used;
  return 1;
}

int virtio_wait_used(u64 base, int queue, long timeout_ticks) {
  struct queue *q = queue_at(base, queue);
  if (!q) return -1;
  virtio_kick(base, queue);
  /* The clock is read only once a wait has lasted a while: a quick completion costs no system call. */
  long deadline = -1;
  for (unsigned int polls = 1; q->last_used == *q->used_idx; polls++) {
    __asm__ volatile("pause");
    if (polls % POLLS_PER_CLOCK_CHECK != 0) continue;
    long now = sys(SYS_TICKS, 0, 0);
    if (deadline < 0) deadline = now + timeout_ticks;
    else if (now > deadline) return -1;
  }
  return 0;
}

static char offered; /* the token of chains whose owner waits for them in turn */

int virtio_offer(u64 base, int queue, const struct virtio_buffer *buffers, int count) {
  if (virtio_add(base, queue, buffers, count, &offered) != 0) return -1;
  virtio_kick(base, queue);
  return 0;
}

long virtio_wait(u64 base, int queue, long timeout_ticks) {
  void *token;
  unsigned int length;
  if (virtio_wait_used(base, queue, timeout_ticks) != 0 || virtio_get(base, queue, &token, &length) != 1) return -1;
  return length;
}

long virtio_request(u64 base, int queue, const struct virtio_buffer *buffers, int count) {
  if (virtio_offer(base, queue, buffers, count) != 0) return -1;
  return virtio_wait(base, queue, TIMEOUT_TICKS);
}

unsigned char virtio_config_byte(u64 base, unsigned int offset) {
  return *(volatile unsigned char *)(base + REG_CONFIG + offset);
}

const struct virtio_queue_stats *virtio_stats(u64 base, int queue) {
  struct queue *q = queue_at(base, queue);
  return q ? &q->stats : 0;
}
