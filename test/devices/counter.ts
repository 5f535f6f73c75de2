// A minimal port device that counts writes in a SharedArrayBuffer: the exit-cost benchmark's and the
// event-loop test's device (as cheap as a TypeScript device gets).
import type { DeviceContext } from '../../lib/runner/device-context';

export interface CounterArgs {
  counter: SharedArrayBuffer;
  port: number;
}

export function setup(context: DeviceContext, rawArgs: unknown): void {
  const args = rawArgs as CounterArgs;
  const count = new Int32Array(args.counter);
  context.pio.register(args.port, 1, {
    read(_offset, data) {
      data.fill(0);
    },
    write() {
      count[0] = (count[0] as number) + 1;
    },
  });
}
