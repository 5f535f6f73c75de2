// Drives a virtio-mmio transport the way a guest driver does: 32-bit register reads and writes.
import { DeviceStatus, MmioReg, VirtioFeature } from '../../lib/devices/virtio/transport/mmio-registers';
import type { VirtioMmioTransport } from '../../lib/devices/virtio/transport/mmio-transport';
import type { SplitQueueConfig } from '../../lib/devices/virtio/transport/split-virtqueue';

export class MmioDriver {
  constructor(readonly transport: VirtioMmioTransport) {}

  read(offset: number): number {
    const data = new Uint8Array(4);
    this.transport.read(offset, data);
    return new DataView(data.buffer).getUint32(0, true);
  }

  write(offset: number, value: number): void {
    const data = new Uint8Array(4);
    new DataView(data.buffer).setUint32(0, value >>> 0, true);
    this.transport.write(offset, data);
  }

  deviceFeatures(): bigint {
    this.write(MmioReg.DEVICE_FEATURES_SEL, 0);
    const low = this.read(MmioReg.DEVICE_FEATURES);
    this.write(MmioReg.DEVICE_FEATURES_SEL, 1);
    return (BigInt(this.read(MmioReg.DEVICE_FEATURES)) << 32n) | BigInt(low);
  }

  /** virtio 1.2, 3.1.1 up to FEATURES_OK; returns the Status read back. */
  negotiate(accept: bigint = 1n << VirtioFeature.VERSION_1): number {
    this.write(MmioReg.STATUS, 0);
    this.write(MmioReg.STATUS, DeviceStatus.ACKNOWLEDGE);
    this.write(MmioReg.STATUS, DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
    this.write(MmioReg.DRIVER_FEATURES_SEL, 0);
    this.write(MmioReg.DRIVER_FEATURES, Number(accept & 0xffffffffn));
    this.write(MmioReg.DRIVER_FEATURES_SEL, 1);
    this.write(MmioReg.DRIVER_FEATURES, Number(accept >> 32n));
    this.write(MmioReg.STATUS, DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK);
    return this.read(MmioReg.STATUS);
  }

  setupQueue(queue: number, config: SplitQueueConfig): void {
    this.write(MmioReg.QUEUE_SEL, queue);
    this.write(MmioReg.QUEUE_NUM, config.size);
    for (const [low, value] of [[MmioReg.QUEUE_DESC_LOW, config.descTable], [MmioReg.QUEUE_DRIVER_LOW, config.availRing], [MmioReg.QUEUE_DEVICE_LOW, config.usedRing]] as const) {
      this.write(low, value % 0x1_0000_0000);
      this.write(low + 4, Math.floor(value / 0x1_0000_0000));
    }
    this.write(MmioReg.QUEUE_READY, 1);
  }

  driverOk(): void {
    this.write(MmioReg.STATUS, this.read(MmioReg.STATUS) | DeviceStatus.DRIVER_OK);
  }
}
