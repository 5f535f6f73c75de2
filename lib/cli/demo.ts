// `node-vmm demo`: boots a few bytes of 64-bit guest code that print through a TypeScript device.
import { enterLongMode } from '../arch/x86_64/long-mode';
import { portConsoleDevice } from '../devices/legacy/port-console/device';
import { Machine } from '../runner/machine';
import type { MachineExit } from '../runner/machine-exit';
import { HELLO_PORT, helloGuest } from './hello-guest';

const LOAD_ADDRESS = 0x100000;
const MEMORY_SIZE = 4 * 1024 * 1024;

export async function runDemo(write: (bytes: Uint8Array) => void): Promise<MachineExit> {
  const machine = Machine.create({
    memorySize: MEMORY_SIZE,
    devices: [portConsoleDevice(HELLO_PORT, write)],
    init: (_vcpu, memory) => ({ sregs: enterLongMode(memory), regs: { rip: BigInt(LOAD_ADDRESS), rflags: 0x2n } }),
  });
  try {
    machine.memory.writeBytes(LOAD_ADDRESS, helloGuest());
    await machine.start();
    return await machine.exited;
  } finally {
    await machine.dispose();
  }
}
