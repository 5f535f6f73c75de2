// Runs many VMs at once in this one process: each boots the bundled guest, answers a command with its
// own number, and exits with a status of its own. Each VM has its own /dev/kvm fd, memory and vCPU
// thread.
//   node examples/many-vms.js [COUNT]
const { createVm, configureVcpuWorkers, warmVcpuWorkers } = require('node-vmm');
const { bootShell, run } = require('./guest-shell');

(async () => {
  const count = Number(process.argv[2] ?? 8);
  configureVcpuWorkers({ size: count }); // vCPU threads started ahead of use, one per VM here
  await warmVcpuWorkers();
  const started = process.hrtime.bigint();
  const results = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const vm = await bootShell(createVm);
      try {
        const reply = await run(vm, `echo I am VM ${i}`);
        vm.console.write(`exit ${i % 100}\n`);
        const exit = await vm.exited;
        return { reply, status: exit.status };
      } finally {
        await vm.dispose();
      }
    }),
  );
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  for (const [i, { reply, status }] of results.entries()) console.log(`vm ${i}: "${reply}", exit status ${status}`);
  const right = results.filter(({ reply, status }, i) => reply === `I am VM ${i}` && status === i % 100).length;
  console.log(`${right} of ${count} VMs answered, all at once, in ${ms.toFixed(0)} ms`);
  process.exitCode = right === count ? 0 : 1;
})();
