import { strict as assert } from 'node:assert';
import { DEBUG_EXIT_PORT } from '../../lib/devices/debug-exit';
import { InterruptBit } from '../../lib/devices/virtio/mmio-registers';
import { VirtioMmioDevice } from '../../lib/devices/virtio/mmio-device';
import { rngDevice, VirtioRngBackend } from '../../lib/devices/virtio/rng';
import { guestMachine } from '../helpers/machines';
import { libDevice, requireKvm } from '../helpers/kvm';

const BASE = 0x3000_0000;
const IRQ = 5;
const RINGS = 0x200000;
const BUFFER = 0x300000;
const LENGTH = 64;

describe('virtio-rng over virtio-mmio (real KVM)', function () {
  before(function () {
    requireKvm(this);
  });

  it('serves a guest driver: notification by ioeventfd, random bytes, interrupt status, no vCPU exit for the notify', async function () {
    this.timeout(60_000);
    let backend: VirtioRngBackend | undefined;
    const device = new VirtioMmioDevice({
      base: BASE,
      irq: IRQ,
      device: rngDevice(),
      backend: (context) => (backend = new VirtioRngBackend(context)),
    });
    const machine = guestMachine({
      guest: 'virtio-rng',
      mode: 'long',
      loadAddress: 0x100000,
      memorySize: 4 * 1024 * 1024,
      irqchip: true,
      regs: () => ({ rdi: BigInt(BASE), rsi: BigInt(RINGS), rdx: BigInt(BUFFER) }),
      devices: [device.moduleSpec, { module: libDevice('debug-exit'), args: { port: DEBUG_EXIT_PORT } }],
    });
    try {
      device.attach(machine);
      await machine.start();
      const exit = await machine.exited;
      assert.equal(exit.reason, 'exited', exit.error?.message);
      assert.equal(exit.status, (InterruptBit.USED_BUFFER << 16) | LENGTH, `status 0x${exit.status?.toString(16)}`);
      const bytes = machine.memory.readBytes(BUFFER, LENGTH);
      assert.ok(new Set(bytes).size > 16, 'random bytes, not a constant');
      assert.equal(backend?.served, LENGTH);
      assert.equal(device.fallbackNotifications, 0, 'the notify went through the ioeventfd, not a register exit');
      assert.equal(device.error, undefined);
    } finally {
      await machine.dispose();
    }
  });
});
