// Split virtqueue layout (virtio 1.2, 2.7): sizes, alignments and field offsets of the three areas.
export const MAX_QUEUE_SIZE = 32768;

export const DESCRIPTOR_SIZE = 16;
export const DESCRIPTOR_TABLE_ALIGN = 16;
export const AVAIL_RING_ALIGN = 2;
export const USED_RING_ALIGN = 4;

export const Desc = { ADDR: 0, LEN: 8, FLAGS: 12, NEXT: 14 } as const;
export const DescFlag = { NEXT: 1, WRITE: 2, INDIRECT: 4 } as const;

/** flags u16, idx u16, ring[size] u16, used_event u16 */
export const Avail = { FLAGS: 0, IDX: 2, RING: 4, ENTRY: 2 } as const;
export const AVAIL_F_NO_INTERRUPT = 1;
/** flags u16, idx u16, ring[size] { id u32, len u32 }, avail_event u16 */
export const Used = { FLAGS: 0, IDX: 2, RING: 4, ENTRY: 8 } as const;
export const USED_F_NO_NOTIFY = 1;

export function descriptorTableBytes(size: number): number {
  return DESCRIPTOR_SIZE * size;
}

/** Including used_event (present whether or not VIRTIO_F_EVENT_IDX was negotiated). */
export function availRingBytes(size: number): number {
  return Avail.RING + Avail.ENTRY * size + 2;
}

/** Including avail_event. */
export function usedRingBytes(size: number): number {
  return Used.RING + Used.ENTRY * size + 2;
}

export function isValidQueueSize(size: number): boolean {
  return Number.isInteger(size) && size > 0 && size <= MAX_QUEUE_SIZE && (size & (size - 1)) === 0;
}
