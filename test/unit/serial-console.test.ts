// The UART's main-thread half: SerialConsole (the Duplex stream over the shared state: guest output
// read from it, input written to it with back-pressure, its counters, its end) and SerialDevice (what
// the machine sees: needs, its vCPU-thread module, the interrupt wiring, ACPI, saved state). The
// guest side is a Serial8250 over the same state, as a vCPU thread has.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { SerialDevice } from '../../lib/devices/legacy/serial/device';
import { COM1_IRQ, COM1_PORT, Ier, Lsr, UART_PORT_COUNT, UartReg } from '../../lib/devices/legacy/serial/registers';
import { Serial8250 } from '../../lib/devices/legacy/serial/serial-8250';
import { SerialConsole } from '../../lib/devices/legacy/serial/serial-console';
import { createSerialState } from '../../lib/devices/legacy/serial/serial-state';
import type { GuestMemory } from '../../lib/memory/guest-memory';
import { placed } from '../helpers/devices';

/** The guest's view of the UART, as a vCPU thread has it. */
class GuestUart {
  readonly uart: Serial8250;
  constructor(state: ReturnType<typeof createSerialState>) {
    this.uart = new Serial8250(state, { setIrq: () => undefined }); // the vCPU half's line: not what these tests watch
  }
  out(register: number, value: number): void {
    this.uart.write(register, Uint8Array.of(value));
  }
  in(register: number): number {
    const data = new Uint8Array(1);
    this.uart.read(register, data);
    return data[0] as number;
  }
  send(text: string): void {
    for (const byte of Buffer.from(text, 'latin1')) this.out(UartReg.THR, byte);
  }
  /** Reads the receive buffer while LSR says data is ready. */
  receiveAll(): string {
    let text = '';
    while (this.in(UartReg.LSR) & Lsr.DR) text += String.fromCharCode(this.in(UartReg.RBR));
    return text;
  }
}

function collect(console: SerialConsole): { text: () => string; ended: Promise<void> } {
  let text = '';
  console.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  const ended = new Promise<void>((resolve) => console.once('end', resolve));
  return { text: () => text, ended };
}

const tick = (ms = 10): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('serial console (the UART as a stream)', () => {
  it("delivers what the guest transmitted when told, counts it, and ends with what was left once the machine stopped", async () => {
    const state = createSerialState();
    const console = new SerialConsole(state);
    const guest = new GuestUart(state);
    const out = collect(console);
    guest.send('hello ');
    assert.equal(out.text(), '', 'nothing before the vCPU half says output is ready');
    console.outputReady();
    await tick();
    assert.equal(out.text(), 'hello ');
    guest.send('last words');
    console.finish();
    await out.ended;
    assert.equal(out.text(), 'hello last words', 'finish() hands over what is left, then ends');
    assert.equal(console.counters.get('txBytes'), 'hello last words'.length);
    console.finish(); // a second finish is harmless
  });

  it('feeds input to the receive FIFO in order, waits while the guest has no room, and counts what it took', async () => {
    const state = createSerialState({ rxCapacity: 16 });
    const console = new SerialConsole(state);
    const guest = new GuestUart(state);
    const input = 'abcdefghijklmnopqrstuvwxyz0123456789';
    let written = false;
    console.write(input, () => (written = true));
    await tick();
    assert.equal(written, false, 'more than the 16 bytes the guest has room for: the write waits');
    let received = guest.receiveAll();
    assert.equal(received, input.slice(0, 16));
    for (let round = 0; round < 20 && received.length < input.length; round++) {
      await tick();
      received += guest.receiveAll();
    }
    assert.equal(received, input, 'every byte, in order, none lost');
    await tick();
    assert.equal(written, true, 'the write completed once the guest took it all');
    assert.equal(console.counters.get('rxBytes'), input.length);
  });

  it('raises the line for received data when the guest enabled it, and drops input once the machine stopped', async () => {
    const state = createSerialState();
    const console = new SerialConsole(state);
    const levels: boolean[] = [];
    console.bindIrq((level) => levels.push(level));
    const guest = new GuestUart(state);
    guest.out(UartReg.IER, Ier.RDI);
    guest.out(UartReg.MCR, 0x08); // OUT2: the PC's interrupt enable
    console.write('x');
    await tick();
    assert.ok(levels.includes(true), `the line went up for received data: ${levels.join(',')}`);
    assert.equal(guest.receiveAll(), 'x');
    console.resume();
    console.finish();
    const before = levels.length;
    await new Promise<void>((resolve) => console.write('ignored', () => resolve()));
    assert.equal(levels.length, before, 'no interrupt once ended');
    assert.equal(console.counters.get('rxBytes'), 1, 'input after the end is dropped, not counted');
  });
});

describe('serial device (the UART on a machine)', () => {
  it('states COM1 by default (8 ports, line 4) and takes another port and line', () => {
    const com1 = new SerialDevice();
    assert.deepEqual(com1.needs, { irq: { line: COM1_IRQ }, ports: [{ base: COM1_PORT, size: UART_PORT_COUNT }] });
    assert.equal(com1.kind, 'serial');
    assert.equal(com1.kernelCmdline(), '');
    const com2 = new SerialDevice({ port: 0x2f8, irq: 3, id: 'com2' });
    assert.deepEqual(com2.needs, { irq: { line: 3 }, ports: [{ base: 0x2f8, size: UART_PORT_COUNT }] });
    const worker = com2.worker;
    assert.equal(path.basename(worker.module), 'serial-module.js');
    assert.deepEqual({ ...(worker.args as object), state: undefined }, { state: undefined, port: 0x2f8, irq: 3 });
    assert.equal((worker.args as { state: unknown }).state, com2.state, 'the vCPU threads share its state');
  });

  it('wires its console to the VM: output on a vCPU thread message, the line through irqLine, the end on quiesce', async () => {
    const device = new SerialDevice({ irq: 3 });
    const lines: Array<[number, boolean]> = [];
    device.attach({ memory: undefined as unknown as GuestMemory, vcpuCount: 1, vm: { irqfd: () => undefined, ioeventfd: () => undefined, irqLine: (irq, level) => lines.push([irq, level]) } });
    const { port1, port2 } = new MessageChannel();
    device.connect(0, port1);
    const out = collect(device.console);
    const guest = new GuestUart(device.state);
    guest.out(UartReg.IER, Ier.RDI);
    guest.out(UartReg.MCR, 0x08);
    device.console.write('k');
    await tick();
    assert.ok(lines.some(([irq, level]) => irq === 3 && level), `the UART's own line went up: ${JSON.stringify(lines)}`);
    guest.send('from the guest');
    port2.postMessage('output');
    await tick(30);
    assert.equal(out.text(), 'from the guest', 'a message on its channel drains the output');
    await device.quiesce();
    await out.ended;
    assert.equal(device.counters.get('txBytes'), 'from the guest'.length);
    port1.close();
    port2.close();
  });

  it('describes itself in the DSDT as COMn (PNP0501) with its ports', () => {
    const [first, second] = placed(new SerialDevice(), new SerialDevice({ port: 0x2f8, irq: 3 }));
    const aml = Buffer.from(first.acpiNode());
    assert.ok(aml.includes(Buffer.from('COM1')), 'named COM1');
    assert.ok(aml.includes(Buffer.from([0x41, 0xd0, 0x05, 0x01])), "PNP0501's EISA id");
    assert.ok(aml.includes(Buffer.from([0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03])), 'an I/O descriptor at 0x3f8');
    assert.ok(Buffer.from(second.acpiNode()).includes(Buffer.from('COM2')), 'the second is COM2');
  });

  it('saves its registers and both rings, and a fresh device restored from them goes on where it was', async () => {
    const device = new SerialDevice();
    const guest = new GuestUart(device.state);
    guest.out(UartReg.SCR, 0x5a);
    guest.send('pending output');
    device.console.write('typed');
    await tick();
    const saved = structuredClone(device.saveState());
    const [restored] = placed(new SerialDevice());
    restored.restoreState(saved);
    const after = new GuestUart(restored.state);
    assert.equal(after.in(UartReg.SCR), 0x5a, 'the scratch register');
    assert.equal(after.receiveAll(), 'typed', 'input the guest had not read');
    const out = collect(restored.console);
    restored.console.outputReady();
    await tick();
    assert.equal(out.text(), 'pending output', 'output the host had not drained');
    assert.throws(() => restored.restoreState({ registers: 'no' }), (e: Error) => e.name === 'ConfigError');
    assert.throws(() => restored.restoreState(null), (e: Error) => e.name === 'ConfigError');
  });
});
