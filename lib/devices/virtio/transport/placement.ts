// Where the n-th virtio-mmio device of a machine goes: its 4 KiB window and its interrupt line.
import { VIRTIO_IRQS, VIRTIO_MMIO_BASE } from '../../../arch/x86_64/layout';
import { ConfigError } from '../../../kvm/errors';
import { VIRTIO_MMIO_WINDOW } from './mmio-registers';

export function virtioPlacement(index: number): { base: number; irq: number } {
  const irq = VIRTIO_IRQS[index];
  if (!Number.isInteger(index) || index < 0 || irq === undefined) throw new ConfigError(`at most ${VIRTIO_IRQS.length} virtio devices per machine`);
  return { base: VIRTIO_MMIO_BASE + index * VIRTIO_MMIO_WINDOW, irq };
}
