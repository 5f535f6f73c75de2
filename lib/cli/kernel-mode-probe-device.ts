// Device module for the kernel-mode probe: the guest writes its port once before a timed loop and once
// after it; each second write posts the nanoseconds between the two (timed on the vCPU thread) on the
// device's channel.
import type { DeviceContext } from '../runner/device-context';

export function setup(context: DeviceContext, args: unknown): void {
  const port = (args as { port: number }).port;
  let started: bigint | undefined;
  context.pio.register(port, 1, {
    read(_offset, data) {
      data.fill(0);
    },
    write() {
      const now = process.hrtime.bigint();
      if (started === undefined) {
        started = now;
        return;
      }
      context.channel?.postMessage(Number(now - started));
      started = undefined;
    },
  }, 'kernel-mode-probe');
}
