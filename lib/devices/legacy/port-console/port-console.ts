// The vCPU-thread half of a port console (device.ts): a write-only I/O port whose bytes go to the
// main thread line by line (or once 256 bytes have gathered), on the device's channel.
import type { DeviceContext } from '../../../runner/device-context';

export interface PortConsoleArgs {
  port: number;
}

const FLUSH_BYTES = 256;
const NEWLINE = 0x0a;

export function setup(context: DeviceContext, rawArgs: unknown): void {
  const { port } = rawArgs as PortConsoleArgs;
  const pending: number[] = [];
  const flush = (): void => {
    context.channel?.postMessage(Uint8Array.from(pending));
    pending.length = 0;
  };
  context.pio.register(port, 1, {
    read(_offset, data) {
      data.fill(0);
    },
    write(_offset, data) {
      for (const byte of data) {
        pending.push(byte);
        if (byte === NEWLINE || pending.length >= FLUSH_BYTES) flush();
      }
    },
  }, 'port-console');
}
