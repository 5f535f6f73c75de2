// What every virtio back end does the same way: take its queues at DRIVER_OK, interrupt the driver
// after using buffers, and give up on a device the guest broke (NEEDS_RESET plus a config interrupt).
import { DeviceStatus, InterruptBit } from './mmio-registers';
import type { BackendContext } from './backend';
import { VirtqueueError } from './errors';
import { SplitVirtqueue } from './split-virtqueue';

/**
 * The queues the driver set up, or undefined: before DRIVER_OK (the device uses no buffer until then,
 * virtio 1.2, 2.1.2), or when one is missing or unusable (the device is then marked NEEDS_RESET).
 * @throws Nothing: a queue the driver set up badly marks the device NEEDS_RESET and gives `undefined`.
 */
export function openQueues(context: BackendContext, indices: readonly number[]): SplitVirtqueue[] | undefined {
  if ((context.transport.status & DeviceStatus.DRIVER_OK) === 0) return undefined;
  try {
    return indices.map((index) => {
      const config = context.transport.queueConfig(index);
      if (config === undefined) throw new VirtqueueError('RING_OUT_OF_RANGE', `queue ${index} was not made ready before DRIVER_OK`);
      return new SplitVirtqueue(context.memory, config, context.transport.queueIndices(index));
    });
  } catch (error) {
    deviceBroken(context, error);
    return undefined;
  }
}

/**
 * Interrupts the driver if it wants to hear about the buffers used since the last signal.
 * @throws Nothing.
 */
export function signalUsed(context: BackendContext, queue: SplitVirtqueue): void {
  if (queue.shouldSignal() && context.transport.raiseInterrupt(InterruptBit.USED_BUFFER)) context.signal();
}

/**
 * The guest broke a queue's rules: NEEDS_RESET and a configuration-change interrupt. Anything that is
 * not a VirtqueueError is a host-side failure and is returned for the back end to keep.
 * @throws Nothing.
 */
export function deviceBroken(context: BackendContext, error: unknown): Error | undefined {
  context.transport.markNeedsReset();
  if (context.transport.raiseInterrupt(InterruptBit.CONFIG_CHANGE)) context.signal();
  if (error instanceof VirtqueueError) return undefined;
  return error instanceof Error ? error : new Error(String(error));
}
