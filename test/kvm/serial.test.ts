import { strict as assert } from 'node:assert';
import { DebugExitDevice } from '../../lib/devices/legacy/debug-exit/device';
import { SerialDevice } from '../../lib/devices/legacy/serial/device';
import { placed } from '../helpers/devices';
import { requireKvm } from '../helpers/kvm';
import { guestMachine } from '../helpers/machines';

describe('serial console with a real guest (real KVM)', function () {
  before(function () {
    requireKvm(this);
  });

  it('carries guest output to a stream and stream input to the guest', async () => {
    const [uart, debugExit] = placed(new SerialDevice(), new DebugExitDevice());
    const machine = guestMachine({
      guest: 'serial-echo',
      mode: 'real',
      loadAddress: 0x1000,
      memorySize: 64 * 1024,
      irqchip: true,
      devices: [uart, debugExit],
    });
    try {
      const serial = uart.console;
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
