import { strict as assert } from 'node:assert';
import type { MessagePort } from 'node:worker_threads';
import { IoBus } from '../../lib/bus/io-bus';
import { ConfigError } from '../../lib/kvm/errors';
import type { DeviceContext, DeviceSetup } from '../../lib/runner/device-context';
import type { GuestMemory } from '../../lib/memory/guest-memory';
import { COM1_IRQ, COM1_PORT, Ier, Serial8250, UartReg, createSerialState } from '../../lib/devices/legacy/serial/serial-8250';
import { setup } from '../../lib/devices/legacy/serial/serial-module';

const typedSetup: DeviceSetup = setup;

function fakeContext(irqLine: (irq: number, level: boolean) => void = () => undefined): { context: DeviceContext; posts: unknown[] } {
  const posts: unknown[] = [];
  const context: DeviceContext = {
    pio: new IoBus('pio'),
    mmio: new IoBus('mmio'),
    memory: {} as GuestMemory,
    vcpuIndex: 0,
    vcpuCount: 1,
    deviceId: 'serial0',
    channel: { postMessage: (payload: unknown) => posts.push(payload) } as unknown as MessagePort,
    irqLine,
    requestExit: () => assert.fail('the UART never ends the VM'),
  };
  return { context, posts };
}

describe('serial device module', () => {
  it('registers the UART on 8 ports, posts one wake-up per batch of output and drives the IRQ line', async () => {
    const state = createSerialState();
    const lines: Array<[number, boolean]> = [];
    const { context, posts } = fakeContext((irq, level) => lines.push([irq, level]));
    await typedSetup(context, { state, port: COM1_PORT, irq: COM1_IRQ });
    assert.equal(context.pio.find(COM1_PORT, 1)?.size, 8);

    for (const byte of new TextEncoder().encode('hi!')) context.pio.write(COM1_PORT + UartReg.THR, Uint8Array.of(byte));
    assert.equal(posts.length, 1, 'one wake-up for the batch, on the device channel');
    const host = new Serial8250(state, { setIrq: () => undefined });
    assert.equal(new TextDecoder().decode(host.drainOutput()), 'hi!');

    context.pio.write(COM1_PORT + UartReg.IER, Uint8Array.of(Ier.THRI));
    assert.deepEqual(lines, [[COM1_IRQ, true]]);
  });

  it('rejects malformed args', () => {
    assert.throws(() => setup(fakeContext().context, { port: COM1_PORT, irq: COM1_IRQ }), ConfigError);
    assert.throws(() => setup(fakeContext().context, undefined), ConfigError);
  });
});
