// The virtio-mmio transport (virtio 1.2, 4.2, version 2): the register window a driver uses for
// feature negotiation, the status state machine, queue setup, interrupt status/ack and config space.
// Built over a VirtioMmioState on every thread that sees the device; each access runs under the
// state's lock. The back end (main thread) reads the queue setup and raises interrupt bits through the
// same object. Bad driver behaviour is ignored or refused as the spec allows, never fatal to the host.
import type { BusDevice } from '../../../bus/io-bus';
import { SharedLock } from '../../shared-lock';
import { DeviceStatus, MmioReg, NODE_VMM_VENDOR_ID, VIRTIO_MMIO_CONFIG, VIRTIO_MMIO_MAGIC, VIRTIO_MMIO_VERSION, VirtioFeature } from './mmio-registers';
import { QueueIndexSlots, QueueSlot, TransportSlot, type VirtioMmioState } from './mmio-state';
import type { SplitQueueConfig } from './split-virtqueue';

export interface TransportHooks {
  /** The driver set DRIVER_OK: the back end may start its queues. Called after the lock is released. */
  onDriverOk?(): void;
  /** The driver wrote 0 to Status: the back end drops its queues. Called after the lock is released. */
  onReset?(): void;
  /** A queue notification that reached the register (no ioeventfd claimed it). */
  onNotify?(queue: number): void;
}

const REGISTER_WIDTH = 4;
const VERSION_1 = 1n << VirtioFeature.VERSION_1;
const U32 = 0x1_0000_0000;

type Event = 'driver-ok' | 'reset' | { notify: number } | undefined;

export class VirtioMmioTransport implements BusDevice {
  readonly #slots: Int32Array;
  readonly #config: Uint8Array;
  readonly #lock: SharedLock;
  readonly #hooks: TransportHooks;

  constructor(state: VirtioMmioState, hooks: TransportHooks = {}) {
    this.#slots = new Int32Array(state.slots);
    this.#config = new Uint8Array(state.config);
    this.#lock = new SharedLock(this.#slots, TransportSlot.LOCK);
    this.#hooks = hooks;
  }

  read(offset: number, data: Uint8Array): void {
    this.#locked(() => {
      if (offset >= VIRTIO_MMIO_CONFIG) {
        this.#readConfig(offset - VIRTIO_MMIO_CONFIG, data);
        return undefined;
      }
      // Registers are 32-bit only (4.2.2.2); other widths read as zero.
      if (data.length !== REGISTER_WIDTH || offset % REGISTER_WIDTH !== 0) data.fill(0);
      else new DataView(data.buffer, data.byteOffset, REGISTER_WIDTH).setUint32(0, this.#readRegister(offset), true);
      return undefined;
    });
  }

  write(offset: number, data: Uint8Array): void {
    const event = this.#locked((): Event => {
      if (offset >= VIRTIO_MMIO_CONFIG) {
        this.#writeConfig(offset - VIRTIO_MMIO_CONFIG, data);
        return undefined;
      }
      if (data.length !== REGISTER_WIDTH || offset % REGISTER_WIDTH !== 0) return undefined;
      return this.#writeRegister(offset, new DataView(data.buffer, data.byteOffset, REGISTER_WIDTH).getUint32(0, true));
    });
    if (event === 'driver-ok') this.#hooks.onDriverOk?.();
    else if (event === 'reset') this.#hooks.onReset?.();
    else if (event !== undefined) this.#hooks.onNotify?.(event.notify);
  }

  get status(): number {
    return Atomics.load(this.#slots, TransportSlot.STATUS);
  }

  /** The features both sides agreed on (meaningful once FEATURES_OK is set). */
  get negotiatedFeatures(): bigint {
    const s = this.#slots;
    return features(s[TransportSlot.DRIVER_FEATURES_LOW] as number, s[TransportSlot.DRIVER_FEATURES_HIGH] as number);
  }

  get queueCount(): number {
    return this.#slots[TransportSlot.QUEUE_COUNT] as number;
  }

  /** A ready queue's setup as the driver wrote it (unchecked: SplitVirtqueue validates it). */
  queueConfig(queue: number): SplitQueueConfig | undefined {
    if (queue < 0 || queue >= this.queueCount) return undefined;
    return this.#locked(() => {
      const q = (slot: number): number => this.#slots[this.#queueBase(queue) + slot] as number;
      if (q(QueueSlot.READY) === 0) return undefined;
      const negotiated = this.negotiatedFeatures;
      return {
        size: q(QueueSlot.NUM) >>> 0,
        descTable: address(q(QueueSlot.DESC_LOW), q(QueueSlot.DESC_HIGH)),
        availRing: address(q(QueueSlot.DRIVER_LOW), q(QueueSlot.DRIVER_HIGH)),
        usedRing: address(q(QueueSlot.DEVICE_LOW), q(QueueSlot.DEVICE_HIGH)),
        indirect: (negotiated & (1n << VirtioFeature.INDIRECT_DESC)) !== 0n,
        eventIdx: (negotiated & (1n << VirtioFeature.EVENT_IDX)) !== 0n,
      };
    });
  }

  /** Where the back end's queue keeps its ring positions (in this shared state). */
  queueIndices(queue: number): QueueIndexSlots {
    return new QueueIndexSlots(this.#slots, queue);
  }

  /** Records a notification that reached the register (the vCPU half), for the back end to take. */
  recordNotify(queue: number): void {
    Atomics.or(this.#slots, TransportSlot.PENDING_NOTIFY, 1 << queue);
    Atomics.add(this.#slots, TransportSlot.REGISTER_NOTIFIES, 1);
  }

  /** Notifications that reached the register instead of an ioeventfd (stays 0 under KVM). */
  get registerNotifications(): number {
    return Atomics.load(this.#slots, TransportSlot.REGISTER_NOTIFIES);
  }

  /** Takes the queues notified through the register since the last call (bit n = queue n). */
  takePendingNotifies(): number {
    return Atomics.exchange(this.#slots, TransportSlot.PENDING_NOTIFY, 0);
  }

  /** Sets interrupt status bits; returns true when they were not all set already (time to signal). */
  raiseInterrupt(bits: number): boolean {
    const before = Atomics.or(this.#slots, TransportSlot.INTERRUPT_STATUS, bits);
    return (before & bits) !== bits;
  }

  /** The back end found the driver's setup broken: DEVICE_NEEDS_RESET plus a config-change interrupt. */
  markNeedsReset(): void {
    this.#locked(() => {
      this.#slots[TransportSlot.STATUS] = (this.#slots[TransportSlot.STATUS] as number) | DeviceStatus.DEVICE_NEEDS_RESET;
      return undefined;
    });
  }

  /** Device-side config update (bumps ConfigGeneration so the driver rereads consistently). */
  updateConfig(offset: number, bytes: Uint8Array): void {
    this.#locked(() => {
      this.#config.set(bytes, offset);
      Atomics.add(this.#slots, TransportSlot.CONFIG_GENERATION, 1);
      return undefined;
    });
  }

  #locked<T>(body: () => T): T {
    this.#lock.lock();
    try {
      return body();
    } finally {
      this.#lock.unlock();
    }
  }

  #queueBase(queue: number): number {
    return TransportSlot.HEADER + queue * QueueSlot.STRIDE;
  }

  /** The selected queue's slot base, or undefined when QueueSel points past the device's queues. */
  #selectedQueue(): number | undefined {
    const queue = this.#slots[TransportSlot.QUEUE_SEL] as number;
    return queue >= 0 && queue < this.queueCount ? this.#queueBase(queue) : undefined;
  }

  #readRegister(offset: number): number {
    const s = this.#slots;
    const queue = this.#selectedQueue();
    const queueSlot = (slot: number): number => (queue === undefined ? 0 : (s[queue + slot] as number) >>> 0);
    switch (offset) {
      case MmioReg.MAGIC: return VIRTIO_MMIO_MAGIC;
      case MmioReg.VERSION: return VIRTIO_MMIO_VERSION;
      case MmioReg.DEVICE_ID: return s[TransportSlot.DEVICE_ID] as number;
      case MmioReg.VENDOR_ID: return NODE_VMM_VENDOR_ID;
      case MmioReg.DEVICE_FEATURES: {
        const sel = s[TransportSlot.DEVICE_FEATURES_SEL] as number;
        return sel === 0 ? (s[TransportSlot.DEVICE_FEATURES_LOW] as number) >>> 0 : sel === 1 ? (s[TransportSlot.DEVICE_FEATURES_HIGH] as number) >>> 0 : 0;
      }
      case MmioReg.QUEUE_NUM_MAX: return queueSlot(QueueSlot.NUM_MAX);
      case MmioReg.QUEUE_READY: return queueSlot(QueueSlot.READY);
      case MmioReg.INTERRUPT_STATUS: return Atomics.load(s, TransportSlot.INTERRUPT_STATUS) >>> 0;
      case MmioReg.STATUS: return (s[TransportSlot.STATUS] as number) >>> 0;
      case MmioReg.CONFIG_GENERATION: return Atomics.load(s, TransportSlot.CONFIG_GENERATION) >>> 0;
      case MmioReg.QUEUE_DESC_LOW: return queueSlot(QueueSlot.DESC_LOW);
      case MmioReg.QUEUE_DESC_HIGH: return queueSlot(QueueSlot.DESC_HIGH);
      case MmioReg.QUEUE_DRIVER_LOW: return queueSlot(QueueSlot.DRIVER_LOW);
      case MmioReg.QUEUE_DRIVER_HIGH: return queueSlot(QueueSlot.DRIVER_HIGH);
      case MmioReg.QUEUE_DEVICE_LOW: return queueSlot(QueueSlot.DEVICE_LOW);
      case MmioReg.QUEUE_DEVICE_HIGH: return queueSlot(QueueSlot.DEVICE_HIGH);
      default: return 0; // write-only and reserved registers
    }
  }

  #writeRegister(offset: number, value: number): Event {
    const s = this.#slots;
    const status = s[TransportSlot.STATUS] as number;
    switch (offset) {
      case MmioReg.DEVICE_FEATURES_SEL:
        s[TransportSlot.DEVICE_FEATURES_SEL] = value;
        return undefined;
      case MmioReg.DRIVER_FEATURES_SEL:
        s[TransportSlot.DRIVER_FEATURES_SEL] = value;
        return undefined;
      case MmioReg.DRIVER_FEATURES: {
        // Only while negotiating (DRIVER set, FEATURES_OK not yet).
        if ((status & DeviceStatus.DRIVER) === 0 || (status & DeviceStatus.FEATURES_OK) !== 0) return undefined;
        const sel = s[TransportSlot.DRIVER_FEATURES_SEL];
        if (sel === 0) s[TransportSlot.DRIVER_FEATURES_LOW] = value | 0;
        else if (sel === 1) s[TransportSlot.DRIVER_FEATURES_HIGH] = value | 0;
        return undefined;
      }
      case MmioReg.QUEUE_SEL:
        s[TransportSlot.QUEUE_SEL] = value | 0;
        return undefined;
      case MmioReg.QUEUE_NOTIFY:
        return value < this.queueCount && (status & DeviceStatus.DRIVER_OK) !== 0 ? { notify: value } : undefined;
      case MmioReg.INTERRUPT_ACK:
        Atomics.and(s, TransportSlot.INTERRUPT_STATUS, ~value);
        return undefined;
      case MmioReg.STATUS:
        return this.#writeStatus(value);
      default:
        this.#writeQueueRegister(offset, value);
        return undefined;
    }
  }

  #writeQueueRegister(offset: number, value: number): void {
    const queue = this.#selectedQueue();
    // Queue setup is frozen while the queue is ready or the device is live (4.2.3.2).
    if (queue === undefined || (this.#slots[TransportSlot.STATUS] as number) & DeviceStatus.DRIVER_OK) return;
    const s = this.#slots;
    const slot = QUEUE_REGISTER_SLOTS[offset];
    if (slot === undefined) return;
    if (slot === QueueSlot.READY) {
      s[queue + QueueSlot.READY] = value === 1 ? 1 : 0;
      return;
    }
    if (s[queue + QueueSlot.READY] !== 0) return;
    if (slot === QueueSlot.NUM && (value === 0 || value > (s[queue + QueueSlot.NUM_MAX] as number))) return;
    s[queue + slot] = value | 0;
  }

  #writeStatus(value: number): Event {
    const s = this.#slots;
    if (value === 0) {
      this.#reset();
      return 'reset';
    }
    const before = s[TransportSlot.STATUS] as number;
    // The driver only adds bits (3.1.1); a write that clears one is ignored.
    if ((value & before) !== before) return undefined;
    let next = value;
    if ((value & DeviceStatus.FEATURES_OK) !== 0 && (before & DeviceStatus.FEATURES_OK) === 0 && !this.#featuresAcceptable()) {
      next &= ~DeviceStatus.FEATURES_OK; // the driver rereads Status and sees we refused
    }
    // DRIVER_OK needs FEATURES_OK, and never follows FAILED: the driver must reset first (2.1.1).
    const goingLive = (next & DeviceStatus.DRIVER_OK) !== 0 && (before & DeviceStatus.DRIVER_OK) === 0;
    if (goingLive && ((next & DeviceStatus.FEATURES_OK) === 0 || (next & DeviceStatus.FAILED) !== 0)) next &= ~DeviceStatus.DRIVER_OK;
    s[TransportSlot.STATUS] = next;
    return (next & DeviceStatus.DRIVER_OK) !== 0 && (before & DeviceStatus.DRIVER_OK) === 0 ? 'driver-ok' : undefined;
  }

  /** Driver features must be a subset of the device's and include VERSION_1 (modern only). */
  #featuresAcceptable(): boolean {
    const s = this.#slots;
    const offered = features(s[TransportSlot.DEVICE_FEATURES_LOW] as number, s[TransportSlot.DEVICE_FEATURES_HIGH] as number);
    const accepted = this.negotiatedFeatures;
    return (accepted & ~offered) === 0n && (accepted & VERSION_1) !== 0n;
  }

  #reset(): void {
    const s = this.#slots;
    for (const slot of [TransportSlot.STATUS, TransportSlot.DEVICE_FEATURES_SEL, TransportSlot.DRIVER_FEATURES_SEL, TransportSlot.DRIVER_FEATURES_LOW, TransportSlot.DRIVER_FEATURES_HIGH, TransportSlot.QUEUE_SEL]) s[slot] = 0;
    Atomics.store(s, TransportSlot.PENDING_NOTIFY, 0);
    Atomics.store(s, TransportSlot.INTERRUPT_STATUS, 0);
    for (let q = 0; q < this.queueCount; q++) {
      const base = this.#queueBase(q);
      for (let slot = QueueSlot.NUM; slot <= QueueSlot.USED_AT_SIGNAL; slot++) s[base + slot] = 0;
    }
  }

  #readConfig(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) data[i] = this.#config[offset + i] ?? 0;
  }

  /** Config space writes: only bytes that exist, and only where the device keeps them writable (none by default). */
  #writeConfig(_offset: number, _data: Uint8Array): void {}
}

const QUEUE_REGISTER_SLOTS: Partial<Record<number, number>> = {
  [MmioReg.QUEUE_NUM]: QueueSlot.NUM,
  [MmioReg.QUEUE_READY]: QueueSlot.READY,
  [MmioReg.QUEUE_DESC_LOW]: QueueSlot.DESC_LOW,
  [MmioReg.QUEUE_DESC_HIGH]: QueueSlot.DESC_HIGH,
  [MmioReg.QUEUE_DRIVER_LOW]: QueueSlot.DRIVER_LOW,
  [MmioReg.QUEUE_DRIVER_HIGH]: QueueSlot.DRIVER_HIGH,
  [MmioReg.QUEUE_DEVICE_LOW]: QueueSlot.DEVICE_LOW,
  [MmioReg.QUEUE_DEVICE_HIGH]: QueueSlot.DEVICE_HIGH,
};

function features(low: number, high: number): bigint {
  return (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
}

/** A 64-bit guest address from two register halves (may exceed 2^53: SplitVirtqueue rejects it). */
function address(low: number, high: number): number {
  return (high >>> 0) * U32 + (low >>> 0);
}
