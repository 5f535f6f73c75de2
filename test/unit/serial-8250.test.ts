import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  Fcr,
  Ier,
  Iir,
  Lcr,
  Lsr,
  Mcr,
  Msr,
  Serial8250,
  UART_FIFO_SIZE,
  UART_PORT_COUNT,
  UartReg,
  createSerialState,
  type SerialOptions,
  type SerialSharedState,
} from '../../lib/devices/legacy/serial/serial-8250';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A UART plus what its hooks saw, and inb/outb as a guest driver would use them. */
class Harness {
  readonly uart: Serial8250;
  readonly levels: boolean[] = [];
  wakes = 0;

  constructor(readonly state: SerialSharedState = createSerialState()) {
    this.uart = new Serial8250(state, {
      setIrq: (level) => this.levels.push(level),
      onTransmit: () => this.wakes++,
    });
  }

  static create(options: SerialOptions): Harness {
    return new Harness(createSerialState(options));
  }

  inb(reg: number): number {
    const data = new Uint8Array(1);
    this.uart.read(reg, data);
    return data[0] as number;
  }

  outb(reg: number, value: number): void {
    this.uart.write(reg, Uint8Array.of(value));
  }

  get level(): boolean {
    return this.uart.irqLevel;
  }
}

const FIFO = Iir.FIFO_ENABLED;

describe('Serial8250', () => {
  describe('Linux 8250 autoconfig probe', () => {
    it('passes the IER scratch test, the loopback MSR test and is detected as a plain 16550A', () => {
      const h = new Harness();
      // IER: the low nibble is read/write, the high nibble reads as zero.
      const savedIer = h.inb(UartReg.IER);
      h.outb(UartReg.IER, 0);
      assert.equal(h.inb(UartReg.IER) & 0x0f, 0);
      h.outb(UartReg.IER, 0xff);
      assert.equal(h.inb(UartReg.IER), 0x0f);
      h.outb(UartReg.IER, savedIer);

      // Loopback: MCR = LOOP | RTS | OUT2 must read back as MSR = CTS | DCD.
      const savedMcr = h.inb(UartReg.MCR);
      h.outb(UartReg.MCR, Mcr.LOOP | 0x0a);
      assert.equal(h.inb(UartReg.MSR) & 0xf0, 0x90);
      h.outb(UartReg.MCR, savedMcr);

      // FIFO detection: enable the FIFO, IIR bits 6-7 become 3 (16550A).
      h.outb(UartReg.LCR, 0xbf);
      h.outb(UartReg.FCR, 0); // the EFR write of a 16650 lands in FCR here
      h.outb(UartReg.LCR, 0);
      assert.equal(h.inb(UartReg.IIR) >> 6, 0, 'FIFOs off after reset');
      h.outb(UartReg.FCR, Fcr.ENABLE_FIFO);
      assert.equal(h.inb(UartReg.IIR) >> 6, 3);

      // autoconfig_16550a's variant checks must all fail: no EFR, no NS bank switch, no 64-byte FIFO.
      h.outb(UartReg.LCR, Lcr.DLAB);
      assert.notEqual(h.inb(2), 0, 'not an ST16C650V1');
      h.outb(UartReg.LCR, 0xbf);
      assert.notEqual(h.inb(2), 0, 'no EFR');
      h.outb(UartReg.LCR, 0);
      h.outb(UartReg.FCR, Fcr.ENABLE_FIFO | 0x20);
      assert.equal(h.inb(UartReg.IIR) >> 5, 6);
      h.outb(UartReg.LCR, Lcr.DLAB);
      h.outb(UartReg.FCR, Fcr.ENABLE_FIFO | 0x20);
      assert.notEqual(h.inb(UartReg.IIR) >> 5, 7, 'not a 16750');
      h.outb(UartReg.LCR, 0);

      // Scratch register (the 8250 vs 16450 test) holds any value.
      for (const value of [0x00, 0xa5, 0x5a, 0xff]) {
        h.outb(UartReg.SCR, value);
        assert.equal(h.inb(UartReg.SCR), value);
      }
      assert.notEqual(h.inb(UartReg.LSR), 0xff, 'LSR safety check');
      assert.equal(h.wakes, 0, 'the probe transmitted nothing');
    });

    it('powers up as a 16550A Linux expects: LSR THRE|TEMT, IIR no interrupt, IER/LCR/MCR 0; LCR reads back whole, MCR its five bits', () => {
      const h = new Harness();
      assert.equal(h.inb(UartReg.LSR), Lsr.THRE | Lsr.TEMT);
      assert.equal(h.inb(UartReg.IIR), Iir.NO_INT);
      for (const reg of [UartReg.IER, UartReg.LCR, UartReg.MCR]) assert.equal(h.inb(reg), 0, `register ${reg}`);
      for (const value of [0x03, 0x1b, 0x7f]) {
        h.outb(UartReg.LCR, value);
        assert.equal(h.inb(UartReg.LCR), value, 'serial8250_do_set_termios writes LCR and reads it back');
      }
      h.outb(UartReg.MCR, 0xff);
      assert.equal(h.inb(UartReg.MCR), Mcr.MASK);
      assert.equal(h.level, false, 'no interrupt line raised by any of it');
    });

    it('raises THRE each time IER.THRI is enabled with THR empty (serial8250_do_startup TXEN test)', () => {
      const h = new Harness();
      h.outb(UartReg.FCR, Fcr.ENABLE_FIFO);
      for (let round = 0; round < 2; round++) {
        h.outb(UartReg.IER, Ier.THRI);
        assert.equal(h.inb(UartReg.IIR), FIFO | Iir.THRI);
        h.outb(UartReg.IER, 0);
      }
      assert.ok(h.inb(UartReg.LSR) & Lsr.TEMT);
      assert.equal(h.inb(UartReg.IIR), FIFO | Iir.NO_INT);
    });
  });

  it('sets the baud divisor through DLAB without touching RBR/THR or IER', () => {
    const h = new Harness();
    h.outb(UartReg.IER, Ier.RDI);
    h.outb(UartReg.LCR, Lcr.DLAB | 0x03);
    h.outb(UartReg.DLL, 0x01);
    h.outb(UartReg.DLM, 0x00);
    h.outb(UartReg.LCR, 0x03);
    assert.equal(h.inb(UartReg.IER), Ier.RDI);
    assert.equal(h.uart.pendingOutput, 0, 'the DLL write was not transmitted');
    h.outb(UartReg.LCR, Lcr.DLAB | 0x03);
    assert.equal(h.inb(UartReg.DLL), 0x01);
    assert.equal(h.inb(UartReg.DLM), 0x00);
    h.outb(UartReg.LCR, 0x03);
    assert.equal(h.inb(UartReg.LCR), 0x03);
  });

  it('transmits bytes in order, waking the host once per batch', () => {
    const h = new Harness();
    for (const byte of encoder.encode('hello, ')) h.outb(UartReg.THR, byte);
    assert.equal(h.wakes, 1);
    assert.equal(h.uart.pendingOutput, 7);
    h.uart.write(UartReg.THR, encoder.encode('w'));
    assert.equal(decoder.decode(h.uart.drainOutput(3)), 'hel');
    for (const byte of encoder.encode('orld')) h.outb(UartReg.THR, byte);
    assert.equal(h.wakes, 1, 'the ring never became empty');
    assert.equal(decoder.decode(h.uart.drainOutput()), 'lo, world');
    h.outb(UartReg.THR, 0x0a);
    assert.equal(h.wakes, 2);
    assert.deepEqual(Array.from(h.uart.drainOutput()), [0x0a]);
    assert.equal(h.uart.drainOutput().length, 0);
  });

  it('raises the THRE interrupt after a write and clears it by reading IIR', () => {
    const h = new Harness();
    h.outb(UartReg.FCR, Fcr.ENABLE_FIFO);
    h.outb(UartReg.IER, Ier.THRI);
    assert.deepEqual(h.levels, [true]);
    assert.equal(h.inb(UartReg.IIR), FIFO | Iir.THRI);
    assert.deepEqual(h.levels, [true, false]);
    assert.equal(h.inb(UartReg.IIR), FIFO | Iir.NO_INT);
    h.outb(UartReg.THR, 0x41);
    assert.equal(h.level, true);
    assert.equal(h.inb(UartReg.LSR) & (Lsr.THRE | Lsr.TEMT), Lsr.THRE | Lsr.TEMT);
    assert.equal(h.level, true, 'reading LSR does not clear THRE');
    h.outb(UartReg.IER, 0);
    assert.equal(h.level, false, 'disabled sources do not drive the line');
    assert.deepEqual(h.levels, [true, false, true, false]);
  });

  it('raises the RX interrupt while input is waiting and drops it when the guest has read it all', () => {
    const h = new Harness();
    h.outb(UartReg.FCR, Fcr.ENABLE_FIFO);
    assert.equal(h.inb(UartReg.LSR) & Lsr.DR, 0);
    assert.equal(h.uart.receive(encoder.encode('ok')), 2);
    assert.equal(h.level, false, 'IER.RDI is off');
    assert.ok(h.inb(UartReg.LSR) & Lsr.DR);
    h.outb(UartReg.IER, Ier.RDI | Ier.THRI);
    assert.equal(h.level, true);
    assert.equal(h.inb(UartReg.IIR), FIFO | Iir.RDI, 'received data outranks THRE');
    assert.equal(h.inb(UartReg.RBR), 0x6f);
    assert.equal(h.level, true);
    assert.equal(h.inb(UartReg.RBR), 0x6b);
    assert.equal(h.inb(UartReg.LSR) & Lsr.DR, 0);
    assert.equal(h.inb(UartReg.IIR), FIFO | Iir.THRI, 'THRE was pending behind RX');
    assert.equal(h.level, false);
    assert.equal(h.inb(UartReg.RBR), 0, 'an empty RBR reads as zero');

    h.uart.receive(Uint8Array.of(1, 2, 3));
    assert.equal(h.level, true);
    h.outb(UartReg.FCR, Fcr.ENABLE_FIFO | Fcr.CLEAR_RCVR);
    assert.equal(h.level, false, 'clearing the RX FIFO drops the interrupt');
    assert.deepEqual(h.levels, [true, false, true, false]);
  });

  it('applies back-pressure to input instead of dropping it', () => {
    const h = Harness.create({ rxCapacity: 16 });
    const input = Uint8Array.from({ length: 20 }, (_, i) => i);
    assert.equal(h.uart.receive(input), 16);
    assert.equal(h.uart.receive(input.subarray(16)), 0);
    assert.equal(h.uart.inputFree, 0);
    assert.equal(h.inb(UartReg.RBR), 0);
    assert.equal(h.uart.receive(input.subarray(16)), 1);
    const read = Array.from({ length: 16 }, () => h.inb(UartReg.RBR));
    assert.deepEqual(read, [...Array.from({ length: 15 }, (_, i) => i + 1), 16]);
  });

  it('clears THRE while the output ring lacks a FIFO of room, and raises it when the host drains', () => {
    const h = Harness.create({ txCapacity: 32 });
    h.outb(UartReg.IER, Ier.THRI);
    h.inb(UartReg.IIR);
    for (let i = 0; i < 32 - UART_FIFO_SIZE; i++) h.outb(UartReg.THR, i);
    assert.equal(h.inb(UartReg.LSR) & Lsr.THRE, Lsr.THRE);
    h.inb(UartReg.IIR);
    h.outb(UartReg.THR, 0xee);
    assert.equal(h.inb(UartReg.LSR) & (Lsr.THRE | Lsr.TEMT), 0);
    assert.equal(h.level, false, 'no THRE interrupt while full');
    for (let i = 0; i < 20; i++) h.outb(UartReg.THR, 0xff); // a guest ignoring LSR
    assert.equal(h.uart.droppedOutput, 20 - (UART_FIFO_SIZE - 1), 'the bytes beyond the ring were counted');
    assert.equal(h.uart.pendingOutput, 32);
    assert.equal(h.uart.drainOutput(4).length, 4);
    assert.equal(h.level, false, 'still less than a FIFO of room');
    assert.equal(h.uart.drainOutput().length, 28);
    assert.equal(h.level, true, 'drained: THRE interrupt owed');
    assert.equal(h.inb(UartReg.IIR) & Iir.ID_MASK, Iir.THRI);
    assert.ok(h.inb(UartReg.LSR) & Lsr.THRE);
  });

  it('loops THR back to RBR in loopback mode, with overrun reported as a line status interrupt', () => {
    const h = Harness.create({ rxCapacity: 16 });
    h.outb(UartReg.MCR, Mcr.LOOP);
    for (let i = 0; i < 17; i++) h.outb(UartReg.THR, 0x30 + i);
    assert.equal(h.uart.pendingOutput, 0, 'loopback does not reach the host');
    assert.equal(h.wakes, 0);
    h.outb(UartReg.IER, Ier.RLSI | Ier.RDI);
    assert.equal(h.inb(UartReg.IIR) & Iir.ID_MASK, Iir.RLSI);
    assert.equal(h.inb(UartReg.LSR) & (Lsr.OE | Lsr.DR), Lsr.OE | Lsr.DR);
    assert.equal(h.inb(UartReg.LSR) & Lsr.OE, 0, 'OE clears on read');
    assert.equal(h.inb(UartReg.IIR) & Iir.ID_MASK, Iir.RDI);
    assert.equal(h.inb(UartReg.RBR), 0x30);
    h.outb(UartReg.MCR, 0);
    h.outb(UartReg.THR, 0x21);
    assert.deepEqual(Array.from(h.uart.drainOutput()), [0x21]);
  });

  it('reports a carrier outside loopback and modem status deltas, with the MSR interrupt', () => {
    const h = new Harness();
    assert.equal(h.inb(UartReg.MSR), Msr.DCD | Msr.DSR | Msr.CTS);
    h.outb(UartReg.IER, Ier.MSI);
    h.outb(UartReg.MCR, Mcr.LOOP | Mcr.DTR | Mcr.OUT1);
    assert.equal(h.level, true);
    assert.equal(h.inb(UartReg.IIR), Iir.MSI, 'no FIFO bits with FIFOs off');
    assert.equal(h.inb(UartReg.MSR), Msr.DSR | Msr.RI | Msr.DCTS | Msr.DDCD);
    assert.equal(h.level, false, 'reading MSR clears the deltas');
    h.outb(UartReg.MCR, Mcr.LOOP | Mcr.DTR);
    assert.equal(h.inb(UartReg.MSR), Msr.DSR | Msr.TERI, 'trailing edge of RI');
    assert.equal(h.inb(UartReg.MSR), Msr.DSR);
  });

  it('handles wide and out-of-range accesses one register per byte', () => {
    const h = new Harness();
    h.uart.write(UartReg.LCR, Uint8Array.of(0x03, Mcr.RTS));
    assert.equal(h.inb(UartReg.MCR), Mcr.RTS);
    const data = new Uint8Array(2);
    h.uart.read(UART_PORT_COUNT - 1, data);
    assert.equal(data[1], 0xff);
  });

  it('shares all registers between two instances over the same state (two vCPU threads)', () => {
    const state = createSerialState();
    const a = new Harness(state);
    const b = new Harness(state);
    a.outb(UartReg.SCR, 0x77);
    a.outb(UartReg.LCR, Lcr.DLAB);
    a.outb(UartReg.DLL, 0x03);
    assert.equal(b.inb(UartReg.SCR), 0x77);
    assert.equal(b.inb(UartReg.DLL), 0x03);
    b.outb(UartReg.LCR, 0);
    b.outb(UartReg.IER, Ier.RDI);
    assert.equal(a.inb(UartReg.IER), Ier.RDI);

    a.uart.receive(Uint8Array.of(9));
    assert.deepEqual(a.levels, [true], 'the instance that raised the line reports it');
    assert.equal(b.level, true);
    assert.equal(b.inb(UartReg.RBR), 9);
    assert.deepEqual(b.levels, [false], 'the instance whose access lowered the line reports it');

    a.outb(UartReg.THR, 0x61);
    b.outb(UartReg.THR, 0x62);
    assert.equal(decoder.decode(b.uart.drainOutput()), 'ab');
  });

  it('carries output from worker threads (two vCPUs writing at once) to the main thread in order', async function () {
    this.timeout(30000);
    const state = createSerialState({ txCapacity: 256 });
    const host = new Serial8250(state, { setIrq: () => undefined });
    const perWorker = 10000;
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { Serial8250 } = require(workerData.modulePath);
      const uart = new Serial8250(workerData.state, {
        setIrq() {},
        onTransmit() { parentPort.postMessage('wake'); },
      });
      const byte = new Uint8Array(1);
      const lsr = new Uint8Array(1);
      for (let i = 0; i < workerData.count; i++) {
        do uart.read(${UartReg.LSR}, lsr); while ((lsr[0] & ${Lsr.THRE}) === 0);
        byte[0] = workerData.tag | (i & 0x7f);
        uart.write(${UartReg.THR}, byte);
      }
      parentPort.postMessage('done');
    `;
    const modulePath = path.join(__dirname, '../../lib/devices/legacy/serial/serial-8250.js');
    const received: number[] = [];
    const drain = (): void => {
      for (let bytes = host.drainOutput(); bytes.length > 0; bytes = host.drainOutput()) received.push(...bytes);
    };
    await Promise.all(
      [0x00, 0x80].map(
        (tag) =>
          new Promise<void>((resolve, reject) => {
            const worker = new Worker(code, { eval: true, workerData: { state, modulePath, tag, count: perWorker } });
            worker.on('message', (message: unknown) => {
              drain();
              if (message === 'done') resolve();
            });
            worker.on('error', reject);
          }),
      ),
    );
    drain();
    assert.equal(host.droppedOutput, 0);
    assert.equal(received.length, 2 * perWorker);
    for (const tag of [0x00, 0x80]) {
      const mine = received.filter((byte) => (byte & 0x80) === tag);
      assert.equal(mine.length, perWorker);
      mine.forEach((byte, i) => assert.equal(byte, tag | (i & 0x7f), `worker ${tag} byte ${i}`));
    }
  });

  it('carries input from the main thread to a worker reading RBR, with back-pressure and no loss', async function () {
    this.timeout(30000);
    const state = createSerialState({ rxCapacity: 64 });
    const host = new Serial8250(state, { setIrq: () => undefined });
    const count = 10000;
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { Serial8250 } = require(workerData.modulePath);
      const uart = new Serial8250(workerData.state, { setIrq() {} });
      const data = new Uint8Array(1);
      let result = 'ok';
      for (let i = 0; i < workerData.count && result === 'ok'; i++) {
        do uart.read(${UartReg.LSR}, data); while ((data[0] & ${Lsr.DR}) === 0);
        uart.read(${UartReg.RBR}, data);
        if (data[0] !== (i & 0xff)) result = 'byte ' + i + ' was ' + data[0];
      }
      parentPort.postMessage(result);
    `;
    const modulePath = path.join(__dirname, '../../lib/devices/legacy/serial/serial-8250.js');
    const worker = new Worker(code, { eval: true, workerData: { state, modulePath, count } });
    let finished = false;
    const result = new Promise<unknown>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    }).finally(() => (finished = true));
    const input = Uint8Array.from({ length: count }, (_, i) => i & 0xff);
    for (let sent = 0; sent < count && !finished; ) {
      const accepted = host.receive(input.subarray(sent, sent + 100));
      sent += accepted;
      if (accepted === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(await result, 'ok');
  });

  it('survives 100,000 random accesses with consistent IIR, LSR, IRQ edges and ring sizes', () => {
    const txCapacity = 64;
    const rxCapacity = 32;
    const h = Harness.create({ txCapacity, rxCapacity });
    const random = mulberry32(0x8250);
    const legalIds: number[] = [Iir.NO_INT, Iir.RLSI, Iir.RDI, Iir.THRI, Iir.MSI];
    const legalIir = new Set([...legalIds, ...legalIds.map((id) => id | Iir.FIFO_ENABLED)]);
    for (let step = 0; step < 100_000; step++) {
      const choice = random();
      const offset = Math.floor(random() * (UART_PORT_COUNT + 2));
      const width = random() < 0.9 ? 1 : 2;
      if (choice < 0.45) {
        const levelBefore = h.level;
        const data = new Uint8Array(width);
        h.uart.read(offset, data);
        if (offset === UartReg.IIR) {
          const iir = data[0] as number;
          assert.ok(legalIir.has(iir), `step ${step}: IIR 0x${iir.toString(16)}`);
          assert.equal((iir & Iir.NO_INT) === 0, levelBefore, `step ${step}: IIR agrees with the line`);
        }
        if (offset === UartReg.LSR) assert.equal((data[0] as number) & 0x9c, 0, `step ${step}: LSR reserved bits`);
      } else if (choice < 0.9) {
        h.uart.write(offset, Uint8Array.from({ length: width }, () => Math.floor(random() * 256)));
      } else if (choice < 0.95) {
        const input = Uint8Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 256));
        const free = h.uart.inputFree;
        assert.equal(h.uart.receive(input), Math.min(free, input.length));
      } else {
        assert.ok(h.uart.drainOutput(Math.floor(random() * 80)).length <= txCapacity);
      }
      assert.ok(h.uart.pendingOutput >= 0 && h.uart.pendingOutput <= txCapacity, `step ${step}: tx size`);
      assert.ok(h.uart.inputFree >= 0 && h.uart.inputFree <= rxCapacity, `step ${step}: rx free`);
    }
    for (let i = 1; i < h.levels.length; i++) assert.notEqual(h.levels[i], h.levels[i - 1], 'setIrq only on edges');
    assert.equal(h.levels.at(-1) ?? false, h.level);
    assert.ok(h.levels.length > 100, 'the line toggled');
  });
});

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
