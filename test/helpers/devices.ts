// Devices for low-level test machines: placed by a DeviceManager as a Linux machine's would be.
import type { Device } from '../../lib/devices/device';
import { DeviceManager } from '../../lib/devices/manager';

/** Registers the devices with a fresh manager, places them and returns them (ready for Machine.create). */
export function placed<T extends Device[]>(...devices: T): T {
  const manager = new DeviceManager();
  for (const device of devices) manager.add(device);
  manager.place();
  return devices;
}
