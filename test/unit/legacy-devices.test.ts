import { strict as assert } from 'node:assert';
import { setup as setupDebugExit, DEBUG_EXIT_PORT } from '../../lib/devices/legacy/debug-exit/debug-exit';
import { I8042Device } from '../../lib/devices/legacy/i8042/device';
import { createI8042State, I8042_BUFFER_BYTES, I8042_CMD_AUX_LOOP, I8042_CMD_AUX_TEST, I8042_CMD_ENABLE_AUX, I8042_CMD_WRITE_AUX, I8042_CMD_WRITE_CONFIG, I8042_COMMAND_PORT, I8042_DATA_PORT, setup as setupI8042 } from '../../lib/devices/legacy/i8042/i8042';
import { fakeContext } from '../helpers/fake-context';

describe('i8042', () => {
  it("answers Linux's probe: self-test, command byte read and write", () => {
    const context = fakeContext();
    setupI8042(context, { state: createI8042State() });
    assert.equal(context.inb(I8042_COMMAND_PORT) & 0x04, 0x04, 'system flag set');
    context.outb(I8042_COMMAND_PORT, 0xaa);
    assert.equal(context.inb(I8042_COMMAND_PORT) & 0x01, 0x01, 'output buffer full');
    assert.equal(context.inb(I8042_DATA_PORT), 0x55);
    assert.equal(context.inb(I8042_COMMAND_PORT) & 0x01, 0, 'output buffer drained');
    context.outb(I8042_COMMAND_PORT, 0x60);
    context.outb(I8042_DATA_PORT, 0x65);
    context.outb(I8042_COMMAND_PORT, 0x20);
    assert.equal(context.inb(I8042_DATA_PORT), 0x65);
    assert.deepEqual(context.exits, []);
  });

  it('reports the keyboard as not inhibited (status bit 4), so Linux does not warn "Keylock active"', () => {
    const context = fakeContext();
    setupI8042(context, { state: createI8042State() });
    assert.equal(context.inb(I8042_COMMAND_PORT) & 0x10, 0x10, 'before any command');
    context.outb(I8042_COMMAND_PORT, 0xaa);
    context.inb(I8042_DATA_PORT);
    assert.equal(context.inb(I8042_COMMAND_PORT) & 0x10, 0x10, 'after a command and its answer');
  });

  it('status register as Linux reads it: command bit (A2) set by a command byte and cleared by a data byte; input buffer never full; OBF only with output', () => {
    const context = fakeContext();
    setupI8042(context, { state: createI8042State() });
    const status = (): number => context.inb(I8042_COMMAND_PORT);
    assert.equal(status() & 0x0b, 0, 'OBF, IBF and A2 clear at power-on');
    context.outb(I8042_COMMAND_PORT, I8042_CMD_WRITE_CONFIG);
    assert.equal(status() & 0x08, 0x08, 'last write was a command');
    assert.equal(status() & 0x02, 0, 'IBF: i8042_wait_write never waits');
    context.outb(I8042_DATA_PORT, 0x45);
    assert.equal(status() & 0x08, 0, 'last write was data');
    context.outb(I8042_COMMAND_PORT, 0x20);
    assert.equal(status() & 0x09, 0x09);
    context.inb(I8042_DATA_PORT);
    assert.equal(status() & 0x01, 0, 'i8042_flush stops once the output is read');
    context.outb(I8042_DATA_PORT, 0xf4);
    assert.equal(status() & 0x08, 0);
  });

  it("refuses the aux port the way Linux's i8042_check_aux tests it: no AUX_LOOP echo, AUX_TEST reports an error, AUXDIS cannot be cleared", () => {
    const context = fakeContext();
    setupI8042(context, { state: createI8042State() });
    const readConfig = (): number => {
      context.outb(I8042_COMMAND_PORT, 0x20);
      return context.inb(I8042_DATA_PORT);
    };
    context.outb(I8042_COMMAND_PORT, I8042_CMD_AUX_LOOP);
    context.outb(I8042_DATA_PORT, 0x5a);
    assert.equal(context.inb(I8042_COMMAND_PORT) & 0x01, 0, 'no loopback byte comes back (the command times out)');
    context.outb(I8042_COMMAND_PORT, I8042_CMD_AUX_TEST);
    const result = context.inb(I8042_DATA_PORT);
    assert.ok(result !== 0 && result !== 0xfa && result !== 0xff, `AUX_TEST answers an interface error, not ${result}`);
    context.outb(I8042_COMMAND_PORT, I8042_CMD_ENABLE_AUX);
    assert.equal(readConfig() & 0x20, 0x20, 'CTR.AUXDIS stays set after ENABLE_AUX');
    context.outb(I8042_COMMAND_PORT, I8042_CMD_WRITE_CONFIG);
    context.outb(I8042_DATA_PORT, 0x47);
    assert.equal(readConfig(), 0x65, 'a command byte enabling the aux port keeps it disabled, its interrupt off');
    context.outb(I8042_COMMAND_PORT, I8042_CMD_WRITE_AUX);
    context.outb(I8042_DATA_PORT, 0xff);
    assert.equal(context.inb(I8042_COMMAND_PORT) & 0x01, 0, 'a byte for the aux device is dropped');
    assert.deepEqual(context.exits, []);
  });

  it('ends the VM with reason reset on command 0xFE', () => {
    const context = fakeContext();
    setupI8042(context, { state: createI8042State() });
    context.outb(I8042_COMMAND_PORT, 0xfe);
    assert.deepEqual(context.exits, [{ kind: 'reset' }]);
  });

  /** The device's main-thread half, attached to a VM whose lines are recorded. */
  function keyboard(): { device: I8042Device; lines: Array<[number, boolean]> } {
    const device = new I8042Device();
    const lines: Array<[number, boolean]> = [];
    device.attach({ memory: undefined as never, vcpuCount: 1, vm: { irqfd: () => undefined, ioeventfd: () => undefined, irqLine: (irq, level) => lines.push([irq, level]) } });
    return { device, lines };
  }

  /** Reads the output buffer as a driver does: data while OBF is set. */
  function drain(context: ReturnType<typeof fakeContext>): number[] {
    const bytes: number[] = [];
    while (context.inb(I8042_COMMAND_PORT) & 0x01) bytes.push(context.inb(I8042_DATA_PORT));
    return bytes;
  }

  it('puts Ctrl-Alt-Del to the guest as set 1 while translating (the default): 1d 38 e0 53, one IRQ 1 edge per byte', () => {
    const { device, lines } = keyboard();
    const context = fakeContext();
    setupI8042(context, { state: device.state });
    device.sendCtrlAltDel();
    assert.deepEqual(lines, [[1, true], [1, false]], 'the host raises the first edge');
    assert.deepEqual(drain(context), [0x1d, 0x38, 0xe0, 0x53]);
    assert.deepEqual(context.irqs, [[1, true], [1, false], [1, true], [1, false], [1, true], [1, false]], 'each read that leaves bytes raises another');
    assert.equal(context.inb(I8042_DATA_PORT), 0, 'an empty buffer reads 0');
  });

  it("passes set 2 (Firecracker's 14 11 e0 71) once the guest turned translation off, and raises nothing with the keyboard interrupt off", () => {
    const { device, lines } = keyboard();
    const context = fakeContext();
    setupI8042(context, { state: device.state });
    context.outb(I8042_COMMAND_PORT, I8042_CMD_WRITE_CONFIG);
    context.outb(I8042_DATA_PORT, 0x04); // system flag only: no translation, no keyboard interrupt
    device.sendCtrlAltDel();
    assert.deepEqual(lines, [], 'no interrupt while the guest disabled it');
    assert.deepEqual(drain(context), [0x14, 0x11, 0xe0, 0x71], 'the bytes wait to be polled');
    assert.deepEqual(context.irqs, []);
  });

  it('refuses a sequence that does not fit the 16-byte buffer whole, and a command answer supersedes waiting keys', () => {
    const { device } = keyboard();
    const context = fakeContext();
    setupI8042(context, { state: device.state });
    for (let i = 0; i < I8042_BUFFER_BYTES / 4; i++) device.sendCtrlAltDel();
    assert.throws(() => device.sendCtrlAltDel(), (e: Error) => e.name === 'DeviceError' && /buffer is full/.test(e.message));
    assert.equal(drain(context).length, I8042_BUFFER_BYTES, 'nothing of the refused sequence went in');
    device.sendCtrlAltDel();
    context.inb(I8042_DATA_PORT);
    context.outb(I8042_COMMAND_PORT, 0x20);
    assert.deepEqual(drain(context), [0x65], 'READ_CONFIG: its answer is all there is to read');
    assert.throws(() => new I8042Device().sendCtrlAltDel(), (e: Error) => e.name === 'DeviceError', 'before the VM exists');
  });

  it('shares its state between the objects of different vCPU threads', () => {
    const state = createI8042State();
    const a = fakeContext();
    const b = fakeContext();
    setupI8042(a, { state });
    setupI8042(b, { state });
    a.outb(I8042_COMMAND_PORT, 0xaa);
    assert.equal(b.inb(I8042_DATA_PORT), 0x55);
  });

  it('survives garbage writes to every port', () => {
    const context = fakeContext();
    setupI8042(context, { state: createI8042State() });
    for (let i = 0; i < 10_000; i++) {
      const port = [0x60, 0x61, 0x64][i % 3] as number;
      const value = (i * 2654435761) >>> 24;
      if (value === 0xfe && port === 0x64) continue;
      context.outb(port, value);
      context.inb(port);
    }
    assert.deepEqual(context.exits, []);
  });
});

describe('debug-exit port', () => {
  it('ends the VM with the written status (any width, little-endian)', () => {
    const context = fakeContext();
    setupDebugExit(context, undefined);
    context.pio.write(DEBUG_EXIT_PORT, Uint8Array.of(3));
    context.pio.write(DEBUG_EXIT_PORT, Uint8Array.of(0x34, 0x12));
    assert.deepEqual(context.exits, [{ kind: 'status', status: 3 }, { kind: 'status', status: 0x1234 }]);
  });
});
