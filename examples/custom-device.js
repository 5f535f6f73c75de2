// A device of your own: a virtio entropy device (device id 4, so the bundled guest's rng driver binds
// it) whose "randomness" is a text, served by a back end module on node-vmm's I/O thread. The guest's
// `rng` command prints 16 bytes from it in hex; this decodes them and reads the device's counter.
//   node examples/custom-device.js
const path = require('node:path');
const { createVm, VirtioMmioDevice, VirtioDeviceId } = require('node-vmm');
const { bootShell, run } = require('./guest-shell');

(async () => {
  const entropy = new VirtioMmioDevice({
    id: 'text-entropy',
    kind: 'text-entropy',
    device: { deviceId: VirtioDeviceId.ENTROPY, features: 0n, queueSizes: [64] },
    backend: { module: path.join(__dirname, 'devices', 'text-entropy.js'), args: { text: 'not random at all! ' } },
    counters: ['bytes'],
  });
  const vm = await bootShell(createVm, { virtio: [entropy] });
  try {
    console.log(`placed: ${vm.devices.map((d) => d.id).join(', ')}`);
    const hex = /^[0-9a-f]+$/m.exec(await run(vm, 'rng'))?.[0] ?? '';
    console.log(`the guest read ${hex.length / 2} bytes: "${Buffer.from(hex, 'hex').toString('latin1')}"`);
    console.log(`the device served ${vm.device('text-entropy').counters.get('bytes')} bytes`);
  } finally {
    await vm.dispose();
  }
})();
