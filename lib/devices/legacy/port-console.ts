// A write-only console on one I/O port: bytes the guest writes are sent to the main thread line by
// line (or when 256 bytes have gathered), where the Machine emits them as 'device-message' events
// of the form { console: Uint8Array }.
import type { DeviceContext } from '../../runner/device-context';

export interface PortConsoleArgs {
  port: number;
}

export interface ConsoleMessage {
  console: Uint8Array;
}

const FLUSH_BYTES = 256;
const NEWLINE = 0x0a;

export function isConsoleMessage(payload: unknown): payload is ConsoleMessage {
  return typeof payload === 'object' && payload !== null && (payload as ConsoleMessage).console instanceof Uint8Array;
}

export function setup(context: DeviceContext, rawArgs: unknown): void {
  const { port } = rawArgs as PortConsoleArgs;
  const pending: number[] = [];
  const flush = (): void => {
    context.post({ console: Uint8Array.from(pending) } satisfies ConsoleMessage);
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
