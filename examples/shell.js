// Boots the bundled guest (an 18 KiB kernel shipped in the package) and talks to its shell: types a
// command on its serial console and prints the reply.
//   node examples/shell.js [COMMAND]
const { createVm } = require('node-vmm');
const { bootShell, run } = require('./guest-shell');

(async () => {
  const command = process.argv[2] ?? 'echo hello from the host';
  const vm = await bootShell(createVm);
  try {
    console.log(`guest> ${command}`);
    console.log(await run(vm, command));
    vm.console.write('exit 0\n'); // the guest's shell ends the VM with that status
    const exit = await vm.exited;
    console.log(`the VM ended: ${exit.reason}, status ${exit.status}`);
  } finally {
    await vm.dispose();
  }
})();
