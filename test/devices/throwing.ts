// A device that throws on every access: the VMM must turn that into an 'error' exit, not a crash.
import type { DeviceContext } from '../../lib/runner/device-context';

export function setup(context: DeviceContext): void {
  context.pio.register(0x10, 2, {
    read() {
      throw new Error('device read failed on purpose');
    },
    write() {
      throw new Error('device write failed on purpose');
    },
  });
}
