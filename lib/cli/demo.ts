// `node-vmm demo`: boots a few bytes of 64-bit guest code that print through a TypeScript device.
import { enterLongMode } from '../arch/x86_64/long-mode';
import { portConsoleDevice } from '../devices/legacy/port-console/device';
import { Machine } from '../runner/machine';
import type { MachineExit } from '../runner/machine-exit';
import { EXIT_FAILURE, EXIT_OK, type CliCommand } from './command';
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

export const DEMO_COMMAND: CliCommand = {
  name: 'demo',
  summary: 'run a few bytes of 64-bit guest code that print through a TypeScript device',
  usage: '[options]',
  description: `Creates a Machine with 4 MiB of RAM and no boot protocol, puts a few bytes of long-mode code in it
that write a greeting to a port, and prints what a TypeScript device on that port received, then how
the guest ended and how long it took.`,
  options: [],
  example: 'node-vmm demo',
  notes: `exit status: ${EXIT_OK} when the guest halted as it should, ${EXIT_FAILURE} otherwise.\n`,
  run: async () => {
    const started = process.hrtime.bigint();
    const exit = await runDemo((bytes) => process.stdout.write(bytes));
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    console.log(`guest ended: ${exit.reason} (${exit.vcpus[0]?.exitCounts.IO ?? 0} port exits, ${ms.toFixed(1)} ms from create to exit)`);
    return exit.reason === 'halted' ? EXIT_OK : EXIT_FAILURE;
  },
};
