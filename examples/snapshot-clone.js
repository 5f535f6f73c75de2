// Pause, snapshot, restore and clone: the guest's shell keeps a note; a snapshot taken with one note
// set is written to files and restored from them, and two copy-on-write clones of an in-memory
// snapshot each go their own way.
//   node examples/snapshot-clone.js
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { createVm, restoreVm } = require('node-vmm');
const { bootShell, run } = require('./guest-shell');

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-vmm-example-'));
  const vms = [];
  let snapshot;
  try {
    const vm = await bootShell(createVm);
    vms.push(vm);
    await run(vm, 'note before the snapshot');
    await vm.pause(); // every vCPU parked, the devices idle
    await vm.snapshot({ path: dir }); // writes vm.state and vm.mem; a paused VM stays paused
    snapshot = await vm.snapshot(); // the same, in memory (a memfd)
    await vm.resume();
    await run(vm, 'note after the snapshot');
    console.log(`original: ${await run(vm, 'note')}`);

    const fromFiles = await restoreVm({ path: dir });
    vms.push(fromFiles);
    console.log(`restored from ${fs.readdirSync(dir).join(' and ')}: ${await run(fromFiles, 'note')}`);

    const clones = [await restoreVm(snapshot), await restoreVm(snapshot)]; // share the snapshot's pages
    vms.push(...clones);
    await run(clones[0], 'note I am clone 1');
    await run(clones[1], 'note I am clone 2');
    for (const clone of clones) console.log(`clone: ${await run(clone, 'note')}`);
  } finally {
    for (const vm of vms) await vm.dispose();
    snapshot?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
})();
