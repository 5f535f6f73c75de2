// virtio-mmio register map (virtio 1.2, 4.2.2), modern interface (version 2), and the status and
// feature bits the transport itself uses.
export const VIRTIO_MMIO_MAGIC = 0x74726976; // "virt"
export const VIRTIO_MMIO_VERSION = 2;
/** One 4 KiB window per device, as Linux's virtio_mmio.device=4K@ADDR:IRQ describes it. */
export const VIRTIO_MMIO_WINDOW = 0x1000;
export const VIRTIO_MMIO_CONFIG = 0x100;

export const MmioReg = {
  MAGIC: 0x000,
  VERSION: 0x004,
  DEVICE_ID: 0x008,
  VENDOR_ID: 0x00c,
  DEVICE_FEATURES: 0x010,
  DEVICE_FEATURES_SEL: 0x014,
  DRIVER_FEATURES: 0x020,
  DRIVER_FEATURES_SEL: 0x024,
  QUEUE_SEL: 0x030,
  QUEUE_NUM_MAX: 0x034,
  QUEUE_NUM: 0x038,
  QUEUE_READY: 0x044,
  QUEUE_NOTIFY: 0x050,
  INTERRUPT_STATUS: 0x060,
  INTERRUPT_ACK: 0x064,
  STATUS: 0x070,
  QUEUE_DESC_LOW: 0x080,
  QUEUE_DESC_HIGH: 0x084,
  QUEUE_DRIVER_LOW: 0x090,
  QUEUE_DRIVER_HIGH: 0x094,
  QUEUE_DEVICE_LOW: 0x0a0,
  QUEUE_DEVICE_HIGH: 0x0a4,
  CONFIG_GENERATION: 0x0fc,
} as const;

export const DeviceStatus = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 64,
  FAILED: 128,
} as const;

export const InterruptBit = { USED_BUFFER: 1, CONFIG_CHANGE: 2 } as const;

/** Feature bits of the transport every virtio device may offer (VERSION_1, EVENT_IDX...). */
export const VirtioFeature = {
  INDIRECT_DESC: 28n,
  EVENT_IDX: 29n,
  VERSION_1: 32n,
} as const;

export const featureBit = (bit: bigint): bigint => 1n << bit;

/** The virtio device ids of the devices node-vmm knows (net, block, entropy, vsock). */
export const VirtioDeviceId = { NET: 1, BLOCK: 2, ENTROPY: 4, VSOCK: 19 } as const;
/** VendorID reported by node-vmm's devices ("NVMM", little-endian). */
export const NODE_VMM_VENDOR_ID = 0x4d4d564e;
