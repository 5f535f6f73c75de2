import { strict as assert } from 'node:assert';
import { createSerialState } from '../../lib/devices/legacy/serial/serial-state';
import { SerialConsole } from '../../lib/devices/legacy/serial/serial-console';
import { COM1_IRQ, COM1_PORT } from '../../lib/devices/legacy/serial/registers';
import { libDevice, requireKvm } from '../helpers/kvm';
import { guestMachine } from '../helpers/machines';

describe('serial console with a real guest (real KVM)', function () {
  before(function () {
    requireKvm(this);
  });

  it('carries guest output to a stream and stream input to the guest', async () => {
    const state = createSerialState();
    const machine = guestMachine({
      guest: 'serial-echo',
      mode: 'real',
      loadAddress: 0x1000,
      memorySize: 64 * 1024,
      irqchip: true,
      devices: [
        { module: libDevice('serial/serial-module'), args: { state, port: COM1_PORT, irq: COM1_IRQ } },
        { module: libDevice('debug-exit') },
      ],
    });
    try {
      const serial = new SerialConsole(machine, state, COM1_IRQ);
      const chunks: Buffer[] = [];
      serial.on('data', (chunk: Buffer) => chunks.push(chunk));
      await machine.start();
      serial.write('hello, guest q');
      const exit = await machine.exited;
      assert.equal(exit.reason, 'exited');
      assert.equal(exit.status, 5);
      assert.equal(Buffer.concat(chunks).toString('latin1'), '>hello, guest ');
    } finally {
      await machine.dispose();
    }
  });
});
