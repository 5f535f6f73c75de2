// Device module for the vCPU workers: the virtio-mmio register window on this worker's MMIO bus.
// Driver status changes (and notifications no ioeventfd caught) go to the main thread's back end as
// messages; the back end also checks the shared status itself, so message order never matters.
import { ConfigError } from '../../../kvm/errors';
import type { DeviceContext } from '../../../runner/device-context';
import { VIRTIO_MMIO_WINDOW } from './mmio-registers';
import { isVirtioMmioState, type VirtioMmioState } from './mmio-state';
import { VirtioMmioTransport } from './mmio-transport';

export interface VirtioMmioModuleArgs {
  state: VirtioMmioState;
  base: number;
}

export type VirtioMmioEvent = { virtioMmio: number } & ({ event: 'driver-ok' | 'reset' } | { event: 'notify'; queue: number });

export function isVirtioMmioEvent(payload: unknown): payload is VirtioMmioEvent {
  return typeof payload === 'object' && payload !== null && typeof (payload as VirtioMmioEvent).virtioMmio === 'number';
}

export function setup(context: DeviceContext, rawArgs: unknown): void {
  const { state, base } = (rawArgs ?? {}) as Partial<VirtioMmioModuleArgs>;
  if (!isVirtioMmioState(state) || !Number.isSafeInteger(base)) throw new ConfigError('virtio-mmio module: args must be { state: VirtioMmioState, base: number }');
  const at = base as number;
  const post = (event: VirtioMmioEvent): void => context.post(event);
  const transport = new VirtioMmioTransport(state, {
    onDriverOk: () => post({ virtioMmio: at, event: 'driver-ok' }),
    onReset: () => post({ virtioMmio: at, event: 'reset' }),
    onNotify: (queue) => post({ virtioMmio: at, event: 'notify', queue }),
  });
  context.mmio.register(at, VIRTIO_MMIO_WINDOW, transport, 'virtio-mmio');
}
