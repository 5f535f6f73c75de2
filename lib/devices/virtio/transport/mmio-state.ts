// Where a virtio-mmio transport's state lives: Int32 slots in a SharedArrayBuffer (so every vCPU
// worker handles register accesses and the main thread runs the queues over the same state) plus the
// device's config space as shared bytes.
import { ConfigError } from '../../../kvm/errors';
import { isValidQueueSize } from './split-ring-layout';

export const MAX_VIRTIO_QUEUES = 8;
const CONFIG_SPACE_MAX = 0x1000 - 0x100;

export const TransportSlot = {
  LOCK: 0,
  STATUS: 1,
  DEVICE_FEATURES_SEL: 2,
  DRIVER_FEATURES_SEL: 3,
  DRIVER_FEATURES_LOW: 4,
  DRIVER_FEATURES_HIGH: 5,
  QUEUE_SEL: 6,
  INTERRUPT_STATUS: 7,
  CONFIG_GENERATION: 8,
  DEVICE_ID: 9,
  DEVICE_FEATURES_LOW: 10,
  DEVICE_FEATURES_HIGH: 11,
  QUEUE_COUNT: 12,
  /** Queues whose notification reached the register (no ioeventfd claimed it): bit n = queue n. */
  PENDING_NOTIFY: 13,
  /** Notifications that reached the register (should stay 0 with KVM's ioeventfds). */
  REGISTER_NOTIFIES: 14,
  HEADER: 16,
} as const;

/**
 * Per-queue slots: what the driver wrote, then where the device is in the rings (the back end's
 * SplitVirtqueue keeps its indices here, so the device's state is all in this buffer).
 */
export const QueueSlot = {
  NUM_MAX: 0,
  NUM: 1,
  READY: 2,
  DESC_LOW: 3,
  DESC_HIGH: 4,
  DRIVER_LOW: 5,
  DRIVER_HIGH: 6,
  DEVICE_LOW: 7,
  DEVICE_HIGH: 8,
  NEXT_AVAIL: 9,
  NEXT_USED: 10,
  USED_AT_SIGNAL: 11,
  STRIDE: 12,
} as const;

const SLOT_COUNT = TransportSlot.HEADER + MAX_VIRTIO_QUEUES * QueueSlot.STRIDE;

/** Structured-cloneable: pass it to the vCPU workers as is. */
export interface VirtioMmioState {
  readonly slots: SharedArrayBuffer;
  readonly config: SharedArrayBuffer;
}

/** What a virtio device is, as the driver sees it: its device id, features, queue sizes and config space. */
export interface VirtioDeviceDescription {
  /** The virtio device id ({@link VirtioDeviceId}). */
  deviceId: number;
  /** Feature bits the device offers (VERSION_1 is added by the transport). */
  features: bigint;
  /** Maximum size of each queue (powers of two). */
  queueSizes: readonly number[];
  /** Initial device config space. */
  config?: Uint8Array;
}

export function createVirtioMmioState(device: VirtioDeviceDescription): VirtioMmioState {
  const { queueSizes } = device;
  if (queueSizes.length === 0 || queueSizes.length > MAX_VIRTIO_QUEUES) throw new ConfigError(`a virtio device has 1 to ${MAX_VIRTIO_QUEUES} queues, not ${queueSizes.length}`);
  for (const size of queueSizes) if (!isValidQueueSize(size)) throw new ConfigError(`virtio queue size ${size} is not a power of two up to 32768`);
  const configBytes = device.config ?? new Uint8Array(0);
  if (configBytes.length > CONFIG_SPACE_MAX) throw new ConfigError(`virtio config space of ${configBytes.length} bytes exceeds ${CONFIG_SPACE_MAX}`);
  const slots = new Int32Array(new SharedArrayBuffer(SLOT_COUNT * Int32Array.BYTES_PER_ELEMENT));
  slots[TransportSlot.DEVICE_ID] = device.deviceId;
  const features = BigInt.asUintN(64, device.features | (1n << 32n));
  slots[TransportSlot.DEVICE_FEATURES_LOW] = Number(features & 0xffffffffn) | 0;
  slots[TransportSlot.DEVICE_FEATURES_HIGH] = Number(features >> 32n) | 0;
  slots[TransportSlot.QUEUE_COUNT] = queueSizes.length;
  queueSizes.forEach((size, q) => {
    slots[TransportSlot.HEADER + q * QueueSlot.STRIDE + QueueSlot.NUM_MAX] = size;
  });
  const config = new SharedArrayBuffer(Math.max(configBytes.length, 1));
  new Uint8Array(config).set(configBytes);
  return { slots: slots.buffer as SharedArrayBuffer, config };
}

export function isVirtioMmioState(value: unknown): value is VirtioMmioState {
  const state = value as Partial<VirtioMmioState> | null;
  return typeof state === 'object' && state !== null && state.slots instanceof SharedArrayBuffer && state.slots.byteLength >= SLOT_COUNT * 4 && state.config instanceof SharedArrayBuffer;
}

/** A queue's ring positions kept in the transport's shared slots (see QueueSlot). */
export class QueueIndexSlots {
  readonly #slots: Int32Array;
  readonly #base: number;

  constructor(slots: Int32Array, queue: number) {
    this.#slots = slots;
    this.#base = TransportSlot.HEADER + queue * QueueSlot.STRIDE;
  }

  get nextAvail(): number {
    return this.#slots[this.#base + QueueSlot.NEXT_AVAIL] as number;
  }
  set nextAvail(value: number) {
    this.#slots[this.#base + QueueSlot.NEXT_AVAIL] = value;
  }
  get nextUsed(): number {
    return this.#slots[this.#base + QueueSlot.NEXT_USED] as number;
  }
  set nextUsed(value: number) {
    this.#slots[this.#base + QueueSlot.NEXT_USED] = value;
  }
  get usedAtLastSignal(): number {
    return this.#slots[this.#base + QueueSlot.USED_AT_SIGNAL] as number;
  }
  set usedAtLastSignal(value: number) {
    this.#slots[this.#base + QueueSlot.USED_AT_SIGNAL] = value;
  }
}
