// The debug-exit port: a guest writes its status code (1, 2 or 4 bytes, little-endian) to end the VM;
// the machine exits with reason 'exited' and that status. Test guests report their result this way.
import type { DeviceContext } from '../../../runner/device-context';

export const DEBUG_EXIT_PORT = 0x501;
/** Claims enough ports for a 4-byte write at the base port. */
export const DEBUG_EXIT_PORT_SPAN = 4;

export interface DebugExitArgs {
  port?: number;
}

export function setup(context: DeviceContext, rawArgs: unknown): void {
  const port = (rawArgs as DebugExitArgs | undefined)?.port ?? DEBUG_EXIT_PORT;
  context.pio.register(port, DEBUG_EXIT_PORT_SPAN, {
    read(_offset, data) {
      data.fill(0);
    },
    write(offset, data) {
      if (offset !== 0) return;
      let status = 0;
      for (let i = data.length - 1; i >= 0; i--) status = status * 256 + (data[i] as number);
      context.requestExit({ kind: 'status', status });
    },
  }, 'debug-exit');
}
