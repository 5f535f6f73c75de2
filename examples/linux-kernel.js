// Boots a Linux kernel with an initrd and a disk, up to its banner, the command line it got and the
// initrd it found, then stops it (where guest kernel mode is emulated, as under nested PVM, a full
// boot takes minutes; on VT-x/AMD-V the same kernel boots on into its initrd in seconds).
//   node examples/linux-kernel.js [KERNEL [INITRD]]      (default: Debian's kernel and initrd in /boot)
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { createVm } = require('node-vmm');

/** Debian's kernel (the cloud flavour where installed) and the initrd made for it. */
function debianKernel() {
  const kernels = fs.existsSync('/boot') ? fs.readdirSync('/boot').filter((f) => /^vmlinuz-.*-amd64$/.test(f)).sort() : [];
  const kernel = kernels.find((f) => f.includes('cloud')) ?? kernels.at(-1);
  if (kernel === undefined) return undefined;
  const initrd = `/boot/initrd.img-${kernel.slice('vmlinuz-'.length)}`;
  return { kernel: `/boot/${kernel}`, initrd: fs.existsSync(initrd) ? initrd : undefined };
}

/** Resolves with the console output once `pattern` matched it; rejects if the VM ends first. */
function waitFor(vm, pattern, state) {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!pattern.test(state.output)) return;
      vm.console.off('data', onData);
      resolve(state.output);
    };
    const onData = (chunk) => {
      state.output += chunk;
      check();
    };
    vm.console.on('data', onData);
    void vm.exited.then((exit) => reject(new Error(`the VM ended (${exit.reason}) before ${pattern}:\n${state.output}`)));
    check();
  });
}

(async () => {
  const found = process.argv[2] !== undefined ? { kernel: process.argv[2], initrd: process.argv[3] } : debianKernel();
  if (found === undefined || found.initrd === undefined) {
    console.error('no kernel and initrd given, and none in /boot (apt-get install linux-image-cloud-amd64)');
    process.exitCode = 1;
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-vmm-example-'));
  const disk = path.join(dir, 'disk.img');
  fs.writeFileSync(disk, Buffer.alloc(0));
  fs.truncateSync(disk, 16 * 1024 * 1024); // a sparse 16 MiB disk: /dev/vda for a kernel with virtio-mmio
  const vm = await createVm({
    kernel: found.kernel,
    initrd: found.initrd,
    disks: [disk],
    cmdline: 'console=ttyS0 earlyprintk=serial reboot=k panic=1 pci=off',
    memoryMiB: 256,
  });
  try {
    const state = { output: '' };
    const booted = waitFor(vm, /RAMDISK: \[mem [^\r\n]*\]/, state);
    await vm.start();
    const output = await booted;
    for (const line of [/Linux version [^\r\n]*/, /Command line: [^\r\n]*/, /RAMDISK: [^\r\n]*/]) console.log(line.exec(output)?.[0]);
    await vm.stop();
    console.log(`the VM ended: ${(await vm.exited).reason}`);
  } finally {
    await vm.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
})();

