// virtio-rng (virtio 1.2, 5.4) as a machine device: one request queue filled from the host's CSPRNG
// by the back end (backend.ts) on an I/O thread.
import * as path from 'node:path';
import { VirtioDeviceId, VirtioFeature } from '../transport/mmio-registers';
import type { VirtioDeviceDescription } from '../transport/mmio-state';
import { VirtioMmioDevice } from '../transport/mmio-device';
import { RNG_COUNTERS } from './backend';

export const RNG_QUEUE_SIZE = 256;
const BACKEND_MODULE = path.join(__dirname, 'backend.js');

export function rngDescription(): VirtioDeviceDescription {
  return { deviceId: VirtioDeviceId.ENTROPY, features: (1n << VirtioFeature.INDIRECT_DESC) | (1n << VirtioFeature.EVENT_IDX), queueSizes: [RNG_QUEUE_SIZE] };
}

/** A virtio-rng device that fills the guest's buffers from the host's CSPRNG. */
export class VirtioRngDevice extends VirtioMmioDevice {
  /**
   * Makes the device, with an optional id, window and line.
   * @throws Nothing.
   */
  constructor(options: { id?: string; base?: number; irq?: number } = {}) {
    super({ ...options, kind: 'virtio-rng', idPrefix: 'rng', device: rngDescription(), backend: { module: BACKEND_MODULE }, counters: RNG_COUNTERS });
  }
}
