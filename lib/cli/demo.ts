// `node-vmm demo`: boots a few bytes of 64-bit guest code that print through a TypeScript device.
import * as path from 'node:path';
import { enterLongMode } from '../arch/x86_64/long-mode';
import { isConsoleMessage } from '../devices/legacy/port-console';
import { Machine } from '../runner/machine';
import type { MachineExit } from '../runner/machine-exit';
import { HELLO_PORT, helloGuest } from './hello-guest';

const LOAD_ADDRESS = 0x100000;
const MEMORY_SIZE = 4 * 1024 * 1024;
const PORT_CONSOLE_MODULE = path.join(__dirname, '..', 'devices', 'legacy', 'port-console.js');

export async function runDemo(write: (bytes: Uint8Array) => void): Promise<MachineExit> {
  const machine = Machine.create({
    memorySize: MEMORY_SIZE,
    devices: [{ module: PORT_CONSOLE_MODULE, args: { port: HELLO_PORT } }],
    init: (_vcpu, memory) => ({ sregs: enterLongMode(memory), regs: { rip: BigInt(LOAD_ADDRESS), rflags: 0x2n } }),
  });
  try {
    machine.memory.writeBytes(LOAD_ADDRESS, helloGuest());
    machine.on('device-message', (_vcpu, payload) => {
      if (isConsoleMessage(payload)) write(payload.console);
    });
    await machine.start();
    return await machine.exited;
  } finally {
    await machine.dispose();
  }
}
