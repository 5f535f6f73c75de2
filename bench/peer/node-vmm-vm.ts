// bench/peer's node-vmm side for the memory rows: N bundled-guest VMs in one process (createVm, as
// `node-vmm run` boots one), each at its shell prompt; prints "vms ready N" and runs until killed.
//   node node-vmm-vm.js --mem MIB --vms N
import { parseArgs } from 'node:util';
import { createVm } from '../../lib/api/create-vm';
import type { VirtualMachine } from '../../lib/api/virtual-machine';
import { BUNDLED_GUEST_PROMPT } from '../../lib/guest/bundled';
import { VMS_READY } from './vmm-process';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { mem: { type: 'string', default: '128' }, vms: { type: 'string', default: '1' } } });
  const vms: VirtualMachine[] = [];
  for (let i = 0; i < Number(values.vms); i++) vms.push(await createVm({ memoryMiB: Number(values.mem) }));
  await Promise.all(
    vms.map(async (vm) => {
      const prompt = new Promise<void>((resolve) => {
        let output = '';
        vm.console.on('data', (chunk: Buffer) => {
          output += chunk.toString('latin1');
          if (output.includes(BUNDLED_GUEST_PROMPT)) resolve();
        });
      });
      await vm.start();
      await prompt;
    }),
  );
  process.stdout.write(`${VMS_READY} ${vms.length}\n`);
  await new Promise(() => undefined); // until killed
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
