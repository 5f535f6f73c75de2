// A virtio device with its back end on a real I/O thread, driven host-side: the test plays the
// driver (the transport's registers through MmioDriver, the rings in guest memory) and plays KVM
// (it signals the queue ioeventfds the device registered, and its status eventfd after a status
// change, as the vCPU-thread half would). Everything else is the production path.
import { nativeCall } from '../../lib/kvm/errors';
import type { GuestMemory } from '../../lib/memory/guest-memory';
import { native } from '../../lib/native/binding';
import type { VirtioMmioDevice } from '../../lib/devices/virtio/transport/mmio-device';
import { placed } from './devices';
import { MmioDriver } from './mmio-driver';

export interface HostedDevice {
  driver: MmioDriver;
  /** What KVM does on a guest's QueueNotify write. */
  notify(queue: number): void;
  /** What the vCPU-thread half does after the driver changed the status. */
  statusChanged(): void;
  /** Interrupts the device raised (irqfd signals, counted). */
  interrupts(): number;
  stop(): Promise<void>;
}

export async function hostDevice(device: VirtioMmioDevice, memory: GuestMemory): Promise<HostedDevice> {
  placed(device);
  const notifyFds: number[] = [];
  let irqFd = -1;
  device.attach({
    memory,
    vcpuCount: 1,
    vm: {
      irqfd: (fd) => {
        irqFd = fd;
      },
      ioeventfd: (fd, options) => {
        notifyFds[Number(options.datamatch ?? 0n)] = fd;
      },
      irqLine: () => undefined,
    },
  });
  await device.start();
  const statusFd = (device.worker.args as { statusFd: number }).statusFd;
  const signal = (fd: number): void => nativeCall(() => native().eventfdWrite(fd, 1));
  let interrupts = 0;
  return {
    driver: new MmioDriver(device.transport),
    notify: (queue) => signal(notifyFds[queue] as number),
    statusChanged: () => signal(statusFd),
    interrupts: () => {
      const taken = nativeCall(() => native().eventfdRead(irqFd));
      if (taken !== null) interrupts += Number(taken);
      return interrupts;
    },
    stop: async () => {
      await device.quiesce();
      device.close();
    },
  };
}
