// A write-only console on one I/O port (the demo's): what the guest writes there reaches `onBytes` on
// the main thread, through the device's private channel.
import * as path from 'node:path';
import type { MessagePort } from 'node:worker_threads';
import type { MachineDevice } from '../../../runner/machine-device';
import type { PortConsoleArgs } from './port-console';

const MODULE_PATH = path.join(__dirname, 'port-console.js');

export function portConsoleDevice(port: number, onBytes: (bytes: Uint8Array) => void): MachineDevice {
  return {
    id: 'port-console',
    worker: { module: MODULE_PATH, args: { port } satisfies PortConsoleArgs },
    connect(_vcpu: number, channel: MessagePort): void {
      channel.on('message', (bytes: unknown) => {
        if (bytes instanceof Uint8Array) onBytes(bytes);
      });
    },
  };
}
