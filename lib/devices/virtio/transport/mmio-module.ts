// The vCPU-thread half of a virtio-mmio device: its register window on this worker's MMIO bus. A
// status change (DRIVER_OK, reset) and a queue notification that reached the register (no ioeventfd
// claimed it) signal the device's status eventfd, which the back end's thread watches; the back end
// reads the shared status itself, so the order of signals never matters.
import { ConfigError } from '../../../kvm/errors';
import type { DeviceContext } from '../../../runner/device-context';
import { signalEventFd } from './fd-watch';
import { VIRTIO_MMIO_WINDOW } from './mmio-registers';
import { isVirtioMmioState, type VirtioMmioState } from './mmio-state';
import { VirtioMmioTransport } from './mmio-transport';

export interface VirtioMmioModuleArgs {
  state: VirtioMmioState;
  base: number;
  /** The device's status eventfd (owned by its main-thread half). */
  statusFd: number;
}

export function setup(context: DeviceContext, rawArgs: unknown): void {
  const { state, base, statusFd } = (rawArgs ?? {}) as Partial<VirtioMmioModuleArgs>;
  if (!isVirtioMmioState(state) || !Number.isSafeInteger(base) || !Number.isInteger(statusFd)) {
    throw new ConfigError('virtio-mmio module: args must be { state: VirtioMmioState, base: number, statusFd: number }');
  }
  const fd = statusFd as number;
  const signal = (): void => signalEventFd(fd);
  const transport: VirtioMmioTransport = new VirtioMmioTransport(state, {
    onDriverOk: signal,
    onReset: signal,
    onNotify: (queue) => {
      transport.recordNotify(queue);
      signal();
    },
  });
  context.mmio.register(base as number, VIRTIO_MMIO_WINDOW, transport, 'virtio-mmio');
}
